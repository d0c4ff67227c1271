"""Checks on uploaded plugin code before it is stored, and where it is stored.

A version's code is one `.py` file or one `.zip` package. Both are checked here once, at
upload, so that a version that exists can always be loaded by the runner: the size is
bounded, the Python compiles, a package holds no path that escapes its folder, and the
entry point names a module (and, if given, a top-level name) that the code defines, or a
module with exactly one plugin class. Nothing of the code runs here: it is read as source."""

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
# The SDK classes a plugin of each type subclasses (the runner's base first).
PLUGIN_BASES = {
    "INTEGRATION_BATCH": ("IntegrationBatchPlugin",),
    "AUDIENCE_SEGMENT_EXTERNAL_FEED": ("AudienceFeedPlugin", "BatchedAudienceFeedPlugin"),
}


@dataclass(frozen=True)
class Artifact:
    name: str
    size: int
    sha256: str
    entry_point: str


def inspect_artifact(
    upload: File, entry_point: str = "", plugin_type: str = "INTEGRATION_BATCH"
) -> Artifact:
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

    bases = PLUGIN_BASES[plugin_type]
    if suffix == ".py":
        entry_point = _check_python_file(upload, name, entry_point, bases)
    else:
        entry_point = _check_zip_package(upload, entry_point, bases)
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


def _check_python_file(upload: File, name: str, entry_point: str, bases: tuple[str, ...]) -> str:
    upload.seek(0)
    source = _decode(upload.read(), name)
    upload.seek(0)
    entry_point = entry_point or _module_name_for(name)
    _check_entry_point_defined(_parse(source, name), _entry_point_parts(entry_point), name, bases)
    return entry_point


def _entry_point_parts(entry_point: str) -> re.Match[str]:
    """`module` and `attribute` of an entry point."""
    match = ENTRY_POINT.match(entry_point)
    if match is None:
        raise ValidationError({"entry_point": f"Expected {ENTRY_POINT_HELP}."})
    return match


def _check_zip_package(upload: File, entry_point: str, bases: tuple[str, ...]) -> str:
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
    _check_entry_point_defined(_parse(source, module_file), match, module_file, bases)
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


def _check_entry_point_defined(
    tree: ast.Module, entry_point: re.Match[str], name: str, bases: tuple[str, ...]
) -> None:
    if entry_point["attribute"]:
        _check_attribute_defined(tree, entry_point["attribute"], name)
    else:
        _check_one_plugin_class(tree, entry_point["module"], bases)


def _check_one_plugin_class(tree: ast.Module, module: str, bases: tuple[str, ...]) -> None:
    """An entry point without a ClassName runs the module's one subclass of the SDK's base
    (subclasses of its own subclasses count too, as the runner counts them). A class built
    on a name imported from elsewhere may be one: then the code is given the benefit of it."""
    plugin_names, imported = set(bases), set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            from_sdk = isinstance(node, ast.ImportFrom) and _is_sdk(node.module or "")
            for alias in node.names:
                local = (alias.asname or alias.name).split(".")[0]
                if alias.name in bases:
                    plugin_names.add(local)
                elif not (from_sdk or _is_sdk(alias.name)):  # the SDK's other names are known
                    imported.add(local)
    found, uncertain = [], False
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        if any(_last_name(base) in plugin_names for base in node.bases):
            found.append(node.name)
            plugin_names.add(node.name)
        elif any(_root_name(base) in imported | {None} for base in node.bases):
            uncertain = True
    if len(found) == 1 or (uncertain and not found):
        return
    field = "artifact" if not found else "entry_point"
    raise ValidationError(
        {
            field: f"{module} defines {len(found)} {bases[0]} subclasses; name the one to run "
            f"in the entry point ({module}:ClassName)."
        }
    )


def _is_sdk(module: str) -> bool:
    return module.partition(".")[0] == "batchworks_sdk"


def _last_name(expression: ast.expr) -> str | None:
    """`Base` of `Base` or `sdk.Base`; None for anything else (a call, a subscript)."""
    if isinstance(expression, ast.Name):
        return expression.id
    return expression.attr if isinstance(expression, ast.Attribute) else None


def _root_name(expression: ast.expr) -> str | None:
    """`sdk` of `sdk.feeds.Base`, `Base` of `Base`; None for anything else."""
    while isinstance(expression, ast.Attribute):
        expression = expression.value
    return expression.id if isinstance(expression, ast.Name) else None


def _check_attribute_defined(tree: ast.Module, attribute: str, name: str) -> None:
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


@dataclass(frozen=True)
class Code:
    lines: list[str]  # a .py file's
    files: list[tuple[str, int]]  # a package's (path, size)


def read_code(version) -> Code:
    """What a version's stored code holds, for people to read (the upload checks bounded
    its size, and that a .py file is UTF-8)."""
    with version.artifact.open("rb") as stored:
        if version.artifact_name.lower().endswith(".zip"):
            with zipfile.ZipFile(stored) as archive:
                files = [(m.filename, m.file_size) for m in archive.infolist() if not m.is_dir()]
            return Code(lines=[], files=files)
        return Code(lines=stored.read().decode("utf-8").splitlines(), files=[])
