// Go smoke test of the jsii-pacmak-built Go module: the constructs synthesize from Go code.
// Mirrors test/python-smoke/test_synth.py and test/java-smoke.
package smoke

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdk-shared-images/cdk-shared-images-go/cdksharedimages"
)

// synth builds the stack; a panic there (a construct's validation error) fails the calling test only.
func synth(t *testing.T) (template assertions.Template) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("synthesizing the stack: %v", r)
		}
	}()
	return synthStack()
}

func synthStack() assertions.Template {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("GoldenImage"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	golden := cdksharedimages.NewSharedAmi(stack, jsii.String("GoldenAmi"), &cdksharedimages.SharedAmiProps{
		ImageId:        jsii.String("ami-0123456789abcdef0"),
		Accounts:       jsii.Strings("111111111111", "222222222222"),
		ShareSnapshots: jsii.Bool(true),
	})
	golden.AddAccounts(jsii.String("333333333333"))
	cdksharedimages.NewSharedAmi(stack, jsii.String("BaseAmi"), &cdksharedimages.SharedAmiProps{
		ImageId:          jsii.String("ami-0fedcba9876543210"),
		OrganizationArns: jsii.Strings("arn:aws:organizations::999999999999:organization/o-goldenorg01"),
		KmsGrants:        jsii.Bool(false),
	})
	desktop := cdksharedimages.NewSharedWorkspaceImage(stack, jsii.String("Desktop"), &cdksharedimages.SharedWorkspaceImageProps{
		ImageId:  jsii.String("wsi-0123abcde"),
		Accounts: jsii.Strings("444444444444"),
	})
	desktop.AddAccounts(jsii.String("555555555555"))
	return assertions.Template_FromStack(stack, nil)
}

// jsii turns a JavaScript exception (a failed assertion, a construct's validation error) into a panic.
func check(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

func handlerFunctions(template assertions.Template, provider string) int {
	count := 0
	for _, fn := range *template.FindResources(jsii.String("AWS::Lambda::Function"), nil) {
		props, _ := (*fn)["Properties"].(map[string]interface{})
		if description, ok := props["Description"].(string); ok && strings.Contains(description, provider) {
			count++
		}
	}
	return count
}

func TestCustomResourcesAndProperties(t *testing.T) {
	template := synth(t)
	check(t, "resource counts", func() {
		template.ResourceCountIs(jsii.String("Custom::SharedAmi"), jsii.Number(2))
		template.ResourceCountIs(jsii.String("Custom::SharedWorkspaceImage"), jsii.Number(1))
	})
	check(t, "golden AMI properties", func() {
		template.HasResourceProperties(jsii.String("Custom::SharedAmi"), map[string]interface{}{
			"ImageId":        "ami-0123456789abcdef0",
			"Accounts":       []interface{}{"111111111111", "222222222222", "333333333333"},
			"ShareSnapshots": "true",
			"KmsGrants":      "true",
		})
	})
	check(t, "base AMI properties", func() {
		template.HasResourceProperties(jsii.String("Custom::SharedAmi"), map[string]interface{}{
			"ImageId":          "ami-0fedcba9876543210",
			"OrganizationArns": []interface{}{"arn:aws:organizations::999999999999:organization/o-goldenorg01"},
			"KmsGrants":        "false",
		})
	})
	check(t, "WorkSpaces image properties", func() {
		template.HasResourceProperties(jsii.String("Custom::SharedWorkspaceImage"), map[string]interface{}{
			"ImageId":  "wsi-0123abcde",
			"Accounts": []interface{}{"444444444444", "555555555555"},
		})
	})
}

func TestOneHandlerPerConstructType(t *testing.T) {
	template := synth(t)
	for _, provider := range []string{"SharedAmiProvider handler (onEvent)", "SharedWorkspaceImageProvider handler (onEvent)"} {
		if n := handlerFunctions(template, provider); n != 1 {
			t.Errorf("%s: %d functions, want 1", provider, n)
		}
	}
}

func TestValidationErrorsReachGo(t *testing.T) {
	var message string
	func() {
		defer func() { message = fmt.Sprint(recover()) }()
		app := awscdk.NewApp(nil)
		stack := awscdk.NewStack(app, jsii.String("Bad"), nil)
		cdksharedimages.NewSharedAmi(stack, jsii.String("Bad"), &cdksharedimages.SharedAmiProps{
			ImageId:  jsii.String("ami-123"),
			Accounts: jsii.Strings("111111111111"),
		})
	}()
	if !strings.Contains(message, "is not an AMI id") {
		t.Errorf("an invalid AMI id was accepted or failed differently: %q", message)
	}
}
