"""The Python examples readers see run against the built wheel.

Two kinds: README's hand-written ```python blocks (what GitHub shows), and jsii-rosetta's Python
translation of every TypeScript example, README's and the API docs' `@example` (what PyPI,
Construct Hub and API.md show); the translations come from .jsii.tabl.json, which
`npx projen rosetta:extract` (strict: every TypeScript example compiled) writes before this runs.
Each example runs with a fresh `app`, `stack` and `self` (the stack) for the ones that use them
without making their own; the stacks must synthesize with the constructs the example declares.
"""
import json
import pathlib
import re

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TABLET = ROOT / ".jsii.tabl.json"
ALLOWED_FENCES = {"ts", "python", "sh", "text", ""}


def readme_python_blocks():
    """(line of the block's first code line, source) for every ```python block, at any indent."""
    lines = README.read_text().split("\n")
    blocks, start, indent = [], None, ""
    for number, line in enumerate(lines, start=1):
        fence = re.match(r"^(\s*)```(.*)$", line)
        if not fence:
            continue
        if start is None:
            start, indent, kind = number, fence.group(1), fence.group(2).strip()
        else:
            if kind == "python":
                body = [l[len(indent):] if l.startswith(indent) else l for l in lines[start:number - 1]]
                blocks.append((start + 1, "\n".join(body)))
            start = None
    return blocks


def readme_fences():
    infos, open_fence = [], False
    for line in README.read_text().split("\n"):
        fence = re.match(r"^\s*```(.*)$", line)
        if fence:
            if not open_fence:
                infos.append(fence.group(1).strip())
            open_fence = not open_fence
    return infos


def rosetta_translations():
    if not TABLET.exists():
        pytest.fail(f"{TABLET.name} not found: run `npx projen rosetta:extract` first")
    snippets = json.loads(TABLET.read_text())["snippets"].values()
    out = []
    for snippet in snippets:
        location = snippet["location"]
        api = location["api"]
        where = f"README.md line {location['field']['line']}" if api["api"] == "moduleReadme" else api.get("fqn", api["api"])
        assert snippet["didCompile"], f"{where}: did not compile"
        out.append((where, snippet["translations"]["python"]["source"]))
    return out


def run(source, filename, first_line=1):
    app = cdk.App()
    stack = cdk.Stack(app, "Readme")
    namespace = {"app": app, "stack": stack, "self": stack}
    code = compile("\n" * (first_line - 1) + source, filename, "exec")
    exec(code, namespace)
    return assertions.Template.from_stack(namespace["stack"])


def assert_declared(template, source):
    for construct, resource_type in [("SharedAmi", "Custom::SharedAmi"),
                                     ("SharedWorkspaceImage", "Custom::SharedWorkspaceImage")]:
        template.resource_count_is(resource_type, len(re.findall(rf"\b{construct}\(", source)))
    shared = {**template.find_resources("Custom::SharedAmi"), **template.find_resources("Custom::SharedWorkspaceImage")}
    for account in re.findall(r'add_accounts\("(\d{12})"\)', source):
        assert any(account in r["Properties"].get("Accounts", []) for r in shared.values()), account


def test_readme_code_blocks_are_ts_python_or_sh():
    unknown = [info for info in readme_fences() if info not in ALLOWED_FENCES]
    assert not unknown, f"README code blocks with fences rosetta and this test do not check: {unknown}"


def test_readme_has_python_examples_for_both_constructs():
    sources = [source for _, source in readme_python_blocks()]
    assert any("SharedAmi(" in s for s in sources)
    assert any("SharedWorkspaceImage(" in s for s in sources)


PYTHON_BLOCKS = readme_python_blocks()
TRANSLATIONS = rosetta_translations() if TABLET.exists() else []


@pytest.mark.parametrize("line,source", PYTHON_BLOCKS, ids=[f"README.md line {line}" for line, _ in PYTHON_BLOCKS])
def test_readme_python_block_synthesizes_what_it_declares(line, source):
    assert_declared(run(source, str(README), line), source)


def test_every_typescript_example_has_a_python_translation():
    # README's ts blocks plus one @example per construct
    ts_blocks = [info for info in readme_fences() if info == "ts"]
    assert len(rosetta_translations()) >= len(ts_blocks) + 2


@pytest.mark.parametrize("where,source", TRANSLATIONS, ids=[where for where, _ in TRANSLATIONS])
def test_rosetta_python_translation_synthesizes_what_it_declares(where, source):
    assert_declared(run(source, f"{where} (Python translation)"), source)
