"""Checks on uploaded plugin code before it is stored, and where it is stored.

A version's code is one `.py` file or one `.zip` package. Both are checked here once, at
upload, so that a version that exists can always be loaded by the runner: the size is
bounded, the Python compiles, a package holds no path that escapes its folder, and the
entry point names a module (and, if given, a top-level name) that the code defines."""

import ast
import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.template.defaultfilters import filesizeformat

ENTRY_POINT = re.compile(
    r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::(?P<attribute>[A-Za-z_]\w*))?$",
    re.ASCII,
)
ENTRY_POINT_HELP = "module or module:ClassName, e.g. import_data:ImportData"


@dataclass(frozen=True)
class Artifact:
    name: str
    size: int
    sha256: str
    entry_point: str


def inspect_artifact(upload: File, entry_point: str = "") -> Artifact:
    """Validate uploaded plugin code; the entry point defaults to the module of a .py file."""
    name = PurePosixPath(upload.name or "").name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in (".py", ".zip"):
        raise ValidationError(
            {"artifact": f"Upload a .py file or a .zip package; {name!r} is neither."}
        )
    limit = settings.PLUGIN_ARTIFACT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            {
                "artifact": f"{name} is {filesizeformat(upload.size)}; "
                f"plugin code is limited to {filesizeformat(limit)}."
            }
        )
    if entry_point and not ENTRY_POINT.match(entry_point):
        raise ValidationError({"entry_point": f"Expected {ENTRY_POINT_HELP}."})

    if suffix == ".py":
        entry_point = _check_python_file(upload, name, entry_point)
    else:
        entry_point = _check_zip_package(upload, entry_point)
    return Artifact(name=name, size=upload.size, sha256=_sha256(upload), entry_point=entry_point)


def artifact_upload_path(version, filename: str) -> str:
    """Each upload gets a path of its own, so stored code is never overwritten."""
    plugin = version.plugin
    return (
        f"plugins/{plugin.organisation_id}/{plugin.pk}/{version.version_id}/"
        f"{version.artifact_sha256[:16]}/{PurePosixPath(filename).name}"
    )


def _sha256(upload: File) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _module_name_for(filename: str) -> str:
    """import-data-for-customer.py is imported as import_data_for_customer."""
    module = re.sub(r"\W", "_", PurePosixPath(filename).stem, flags=re.ASCII)
    return module if module[:1].isalpha() or module[:1] == "_" else f"plugin_{module}"


def _check_python_file(upload: File, name: str, entry_point: str) -> str:
    upload.seek(0)
    source = _decode(upload.read(), name)
    upload.seek(0)
    tree = _parse(source, name)
    if not entry_point:
        return _module_name_for(name)
    _check_attribute_defined(tree, _entry_point_parts(entry_point)["attribute"], name)
    return entry_point


def _entry_point_parts(entry_point: str) -> re.Match[str]:
    """`module` and `attribute` of an entry point."""
    match = ENTRY_POINT.match(entry_point)
    if match is None:
        raise ValidationError({"entry_point": f"Expected {ENTRY_POINT_HELP}."})
    return match


def _check_zip_package(upload: File, entry_point: str) -> str:
    if not entry_point:
        raise ValidationError({"entry_point": f"Required for a .zip package: {ENTRY_POINT_HELP}."})
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, EOFError):
        raise ValidationError({"artifact": "This file is not a valid .zip archive."}) from None
    with archive:
        members = archive.infolist()
        _check_member_paths(members)
        unzipped = sum(member.file_size for member in members)
        limit = settings.PLUGIN_ARTIFACT_MAX_UNZIPPED_BYTES
        if unzipped > limit:
            raise ValidationError(
                {
                    "artifact": f"The package expands to {filesizeformat(unzipped)}; "
                    f"the limit is {filesizeformat(limit)}."
                }
            )
        match = _entry_point_parts(entry_point)
        module_path = match["module"].replace(".", "/")
        names = {member.filename for member in members}
        candidates = [f"{module_path}.py", f"{module_path}/__init__.py"]
        module_file = next((path for path in candidates if path in names), None)
        if module_file is None:
            raise ValidationError(
                {
                    "entry_point": f"The package has no module {match['module']} "
                    f"(looked for {' or '.join(candidates)})."
                }
            )
        try:
            source = _decode(archive.read(module_file), module_file)
        except zipfile.BadZipFile as error:
            raise ValidationError({"artifact": f"The archive is damaged: {error}"}) from None
    upload.seek(0)
    _check_attribute_defined(_parse(source, module_file), match["attribute"], module_file)
    return entry_point


def _check_member_paths(members: list[zipfile.ZipInfo]) -> None:
    for member in members:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in member.filename:
            raise ValidationError(
                {"artifact": f"The package holds an unsafe path: {member.filename!r}."}
            )


def _decode(content: bytes, name: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError({"artifact": f"{name} is not UTF-8 encoded Python."}) from None


def _parse(source: str, name: str) -> ast.Module:
    try:
        return ast.parse(source, filename=name)
    except SyntaxError as error:
        raise ValidationError({"artifact": f"{name}, line {error.lineno}: {error.msg}."}) from None
    except ValueError as error:  # e.g. a null byte in the source
        raise ValidationError({"artifact": f"{name}: {error}."}) from None


def _check_attribute_defined(tree: ast.Module, attribute: str | None, name: str) -> None:
    if attribute is None:
        return
    defined = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    if attribute not in defined:
        raise ValidationError(
            {"entry_point": f"{attribute} is not defined at the top level of {name}."}
        )
