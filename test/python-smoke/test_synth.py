"""Python smoke test of the built wheel: the constructs synthesize from Python code.

Run by scripts/python-smoke.sh in a fresh virtualenv with the wheel jsii-pacmak built and
aws-cdk-lib from PyPI.
"""
import aws_cdk as cdk
from aws_cdk import assertions
from aws_cdk import aws_logs as logs
from cdk_shared_images import DeletionGuard, SharedAmi, SharedWorkspaceImage, ShareHandlerOptions


def synth():
    app = cdk.App()
    stack = cdk.Stack(app, "GoldenImage", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    golden = SharedAmi(stack, "GoldenAmi",
        image_id="ami-0123456789abcdef0",
        accounts=["111111111111", "222222222222"],
        share_snapshots=True,
    )
    golden.add_accounts("333333333333")
    SharedAmi(stack, "BaseAmi",
        image_id="ami-0fedcba9876543210",
        organization_arns=["arn:aws:organizations::999999999999:organization/o-goldenorg01"],
        kms_grants=False,
    )
    desktop = SharedWorkspaceImage(stack, "Desktop", image_id="wsi-0123abcde", accounts=["444444444444"])
    desktop.add_accounts("555555555555")
    return assertions.Template.from_stack(stack)


def handler_functions(template, provider):
    functions = template.find_resources("AWS::Lambda::Function")
    return [f for f in functions.values() if provider in f["Properties"].get("Description", "")]


def test_custom_resources_and_properties():
    template = synth()
    template.resource_count_is("Custom::SharedAmi", 2)
    template.resource_count_is("Custom::SharedWorkspaceImage", 1)
    template.has_resource_properties("Custom::SharedAmi", {
        "ImageId": "ami-0123456789abcdef0",
        "Accounts": ["111111111111", "222222222222", "333333333333"],
        "ShareSnapshots": "true",
        "KmsGrants": "true",
    })
    template.has_resource_properties("Custom::SharedAmi", {
        "ImageId": "ami-0fedcba9876543210",
        "OrganizationArns": ["arn:aws:organizations::999999999999:organization/o-goldenorg01"],
        "KmsGrants": "false",
    })
    template.has_resource_properties("Custom::SharedWorkspaceImage", {
        "ImageId": "wsi-0123abcde",
        "Accounts": ["444444444444", "555555555555"],
    })


def test_one_handler_per_construct_type():
    template = synth()
    assert len(handler_functions(template, "SharedAmiProvider handler (onEvent)")) == 1
    assert len(handler_functions(template, "SharedWorkspaceImageProvider handler (onEvent)")) == 1


def test_guard_removal_policy_handler_options_and_attributes():
    app = cdk.App()
    stack = cdk.Stack(app, "Guarded", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    image = cdk.CfnResource(stack, "Image", type="Custom::Image")
    share = SharedAmi(stack, "Share",
        image_id="ami-0123456789abcdef0",
        accounts=["111111111111"],
        deletion_guard=DeletionGuard.before_deleting(image),
        handler_options=ShareHandlerOptions(log_retention=logs.RetentionDays.ONE_YEAR),
    )
    SharedWorkspaceImage(stack, "Kept", image_id="wsi-0123abcde", accounts=["444444444444"],
        removal_policy=cdk.RemovalPolicy.RETAIN)
    assert cdk.Token.is_unresolved(share.shared_ami_id)
    assert cdk.Token.is_unresolved(share.shared_ami_kms_grant_name)
    template = assertions.Template.from_stack(stack)
    template.has_resource("Custom::SharedAmi", {"DependsOn": assertions.Match.array_with(["Image"]),
                                                "Properties": assertions.Match.object_like({"GuardImage": "true"})})
    template.has_resource("Custom::SharedWorkspaceImage", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})


def test_validation_errors_reach_python():
    app = cdk.App()
    stack = cdk.Stack(app, "Bad")
    try:
        SharedAmi(stack, "Bad", image_id="ami-123", accounts=["111111111111"])
    except Exception as err:  # jsii surfaces the construct's error
        assert "is not an AMI id" in str(err)
    else:
        raise AssertionError("an invalid AMI id was accepted")
