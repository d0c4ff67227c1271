import hashlib
import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from apps.plugins.artifacts import inspect_artifact

GOOD_CODE = (
    b"from batchworks_sdk import IntegrationBatchPlugin\n\n"
    b"class ImportData(IntegrationBatchPlugin):\n    def run(self, context):\n        return 1\n"
)


def zip_of(files: dict[str, bytes], name="package.zip") -> ContentFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return ContentFile(buffer.getvalue(), name=name)


def refusal(upload, entry_point=""):
    with pytest.raises(ValidationError) as caught:
        inspect_artifact(upload, entry_point)
    return caught.value.message_dict


def test_a_python_file_is_measured_hashed_and_named_by_its_module():
    artifact = inspect_artifact(ContentFile(GOOD_CODE, name="import-data-for-customer.py"))
    assert artifact.size == len(GOOD_CODE)
    assert artifact.sha256 == hashlib.sha256(GOOD_CODE).hexdigest()
    assert artifact.entry_point == "import_data_for_customer"


def test_a_python_file_without_a_plugin_class_is_refused_with_the_runners_words():
    """Published, it would fail every run and use up its version number."""
    code = b"def run(context):\n    return 1\n\nclass Helper:\n    pass\n"
    assert refusal(ContentFile(code, name="import_data.py")) == {
        "artifact": [
            "import_data defines 0 IntegrationBatchPlugin subclasses; name the one to run in "
            "the entry point (import_data:ClassName)."
        ]
    }


def test_two_plugin_classes_need_the_entry_point_to_name_one():
    code = GOOD_CODE + b"\nclass Variant(ImportData):\n    pass\n"
    assert "defines 2 IntegrationBatchPlugin subclasses" in str(
        refusal(ContentFile(code, name="import_data.py"))["entry_point"]
    )
    named = inspect_artifact(ContentFile(code, name="import_data.py"), "import_data:Variant")
    assert named.entry_point == "import_data:Variant"


@pytest.mark.parametrize(
    "code",
    [
        b"import batchworks_sdk as sdk\nclass A(sdk.IntegrationBatchPlugin):\n    pass\n",
        b"from batchworks_sdk import IntegrationBatchPlugin as Base\nclass A(Base):\n    pass\n",
        # a base from elsewhere (the package's own, say) may be a plugin class: accepted
        b"from common import Loader\nclass A(Loader):\n    pass\n",
    ],
)
def test_a_plugin_class_is_found_however_its_base_is_imported(code):
    assert inspect_artifact(ContentFile(code, name="a.py")).entry_point == "a"


def test_a_feed_plugin_is_found_by_its_own_base():
    code = b"from batchworks_sdk.feeds import AudienceFeedPlugin\nclass Send(AudienceFeedPlugin):\n    pass\n"
    assert inspect_artifact(ContentFile(code, name="send.py"), "", "AUDIENCE_SEGMENT_EXTERNAL_FEED")
    assert "defines 0 AudienceFeedPlugin subclasses" in str(
        refusal_of_type(ContentFile(GOOD_CODE, name="send.py"), "AUDIENCE_SEGMENT_EXTERNAL_FEED")
    )


def refusal_of_type(upload, plugin_type):
    with pytest.raises(ValidationError) as caught:
        inspect_artifact(upload, "", plugin_type)
    return caught.value.message_dict


def test_an_entry_point_naming_a_top_level_class_is_kept():
    upload = ContentFile(GOOD_CODE, name="import_data.py")
    assert (
        inspect_artifact(upload, "import_data:ImportData").entry_point == "import_data:ImportData"
    )


def test_an_entry_point_naming_nothing_defined_is_refused():
    errors = refusal(ContentFile(GOOD_CODE, name="import_data.py"), "import_data:Missing")
    assert errors["entry_point"] == ["Missing is not defined at the top level of import_data.py."]


def test_a_malformed_entry_point_is_refused():
    errors = refusal(ContentFile(GOOD_CODE, name="a.py"), "not valid!")
    assert "module or module:ClassName" in errors["entry_point"][0]


def test_python_that_does_not_compile_is_refused_with_its_line():
    errors = refusal(ContentFile(b"x = 1\ndef broken(:\n", name="plugin.py"))
    assert errors["artifact"][0].startswith("plugin.py, line 2:")


def test_a_file_that_is_not_python_or_zip_is_refused():
    errors = refusal(ContentFile(b"#!/bin/sh\necho hi\n", name="run.sh"))
    assert errors["artifact"] == ["Upload a .py file or a .zip package; 'run.sh' is neither."]


def test_code_that_is_not_utf8_is_refused():
    errors = refusal(ContentFile(b"name = '\xff\xfe'\n", name="plugin.py"))
    assert errors["artifact"] == ["plugin.py is not UTF-8 encoded Python."]


def test_oversized_code_is_refused_naming_the_limit(settings):
    settings.PLUGIN_ARTIFACT_MAX_BYTES = 1024
    errors = refusal(ContentFile(b"#" * 2048, name="plugin.py"))
    assert errors["artifact"] == ["plugin.py is 2.0\xa0KB; plugin code is limited to 1.0\xa0KB."]


def test_a_zip_package_with_its_entry_module_is_accepted():
    upload = zip_of({"customer/__init__.py": b"", "customer/main.py": GOOD_CODE})
    artifact = inspect_artifact(upload, "customer.main:ImportData")
    assert artifact.entry_point == "customer.main:ImportData"
    assert artifact.name == "package.zip"


def test_a_zip_package_needs_an_entry_point():
    errors = refusal(zip_of({"main.py": GOOD_CODE}))
    assert "Required for a .zip package" in errors["entry_point"][0]


def test_a_zip_package_without_the_entry_module_is_refused():
    errors = refusal(zip_of({"main.py": GOOD_CODE}), "customer.job")
    assert errors["entry_point"] == [
        "The package has no module customer.job "
        "(looked for customer/job.py or customer/job/__init__.py)."
    ]


def test_a_zip_package_escaping_its_folder_is_refused():
    errors = refusal(zip_of({"main.py": GOOD_CODE, "../../etc/cron.d/x": b"*"}), "main")
    assert errors["artifact"] == ["The package holds an unsafe path: '../../etc/cron.d/x'."]


def test_a_zip_bomb_is_refused(settings):
    settings.PLUGIN_ARTIFACT_MAX_UNZIPPED_BYTES = 10_000
    errors = refusal(zip_of({"main.py": GOOD_CODE, "data.bin": b"\0" * 50_000}), "main")
    assert "expands to" in errors["artifact"][0]


def test_a_file_named_zip_that_is_not_one_is_refused():
    errors = refusal(ContentFile(b"not a zip", name="package.zip"), "main")
    assert errors["artifact"] == ["This file is not a valid .zip archive."]
