"""README's Python examples run against the built wheel.

jsii-rosetta compiles README's TypeScript examples (strict mode); the hand-written Python ones are
checked here: every ```python block is executed in order, each with a fresh `app` and `stack` for
the blocks that use them without making their own, and the stacks they build must synthesize
with the constructs they declare.
"""
import pathlib
import re

import aws_cdk as cdk
from aws_cdk import assertions

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


def run_block(source):
    app = cdk.App()
    namespace = {"app": app, "stack": cdk.Stack(app, "Readme")}
    exec(compile(source, str(README), "exec"), namespace)
    return assertions.Template.from_stack(namespace["stack"])


def test_readme_has_python_examples_for_both_constructs():
    assert len(BLOCKS) >= 2
    assert any("SharedAmi(" in b for b in BLOCKS)
    assert any("SharedWorkspaceImage(" in b for b in BLOCKS)


def test_every_python_block_synthesizes_what_it_declares():
    for source in BLOCKS:
        template = run_block(source)
        for construct, resource_type in [("SharedAmi", "Custom::SharedAmi"),
                                         ("SharedWorkspaceImage", "Custom::SharedWorkspaceImage")]:
            declared = len(re.findall(rf"\b{construct}\(", source))
            template.resource_count_is(resource_type, declared)
        for account in re.findall(r'add_accounts\("(\d{12})"\)', source):
            shared = template.find_resources("Custom::SharedAmi") | template.find_resources("Custom::SharedWorkspaceImage")
            assert any(account in r["Properties"].get("Accounts", []) for r in shared.values()), account
