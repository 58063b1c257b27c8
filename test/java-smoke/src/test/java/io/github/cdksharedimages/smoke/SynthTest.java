package io.github.cdksharedimages.smoke;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.cdksharedimages.SharedAmi;
import io.github.cdksharedimages.SharedWorkspaceImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import software.amazon.awscdk.App;
import software.amazon.awscdk.Environment;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.StackProps;
import software.amazon.awscdk.assertions.Template;
import software.amazon.jsii.JsiiError;

/**
 * Java smoke test of the jsii-pacmak-built Maven package: the constructs synthesize from Java code.
 *
 * <p>Run by scripts/java-smoke.sh with the package from dist/java and aws-cdk-lib from Maven Central;
 * mirrors test/python-smoke/test_synth.py.
 */
class SynthTest {

    private static Template synth() {
        App app = new App();
        Stack stack = new Stack(app, "GoldenImage", StackProps.builder()
                .env(Environment.builder().account("123456789012").region("eu-west-1").build())
                .build());
        SharedAmi golden = SharedAmi.Builder.create(stack, "GoldenAmi")
                .imageId("ami-0123456789abcdef0")
                .accounts(List.of("111111111111", "222222222222"))
                .shareSnapshots(true)
                .build();
        golden.addAccounts("333333333333");
        SharedAmi.Builder.create(stack, "BaseAmi")
                .imageId("ami-0fedcba9876543210")
                .organizationArns(List.of("arn:aws:organizations::999999999999:organization/o-goldenorg01"))
                .kmsGrants(false)
                .build();
        SharedWorkspaceImage desktop = SharedWorkspaceImage.Builder.create(stack, "Desktop")
                .imageId("wsi-0123abcde")
                .accounts(List.of("444444444444"))
                .build();
        desktop.addAccounts("555555555555");
        return Template.fromStack(stack);
    }

    private static long handlerFunctions(Template template, String provider) {
        Map<String, Map<String, Object>> functions = template.findResources("AWS::Lambda::Function");
        return functions.values().stream()
                .map(resource -> (Map<?, ?>) resource.get("Properties"))
                .filter(properties -> properties != null
                        && properties.get("Description") instanceof String
                        && ((String) properties.get("Description")).contains(provider))
                .count();
    }

    @Test
    void customResourcesAndProperties() {
        Template template = synth();
        template.resourceCountIs("Custom::SharedAmi", 2);
        template.resourceCountIs("Custom::SharedWorkspaceImage", 1);
        template.hasResourceProperties("Custom::SharedAmi", Map.of(
                "ImageId", "ami-0123456789abcdef0",
                "Accounts", List.of("111111111111", "222222222222", "333333333333"),
                "ShareSnapshots", "true",
                "KmsGrants", "true"));
        template.hasResourceProperties("Custom::SharedAmi", Map.of(
                "ImageId", "ami-0fedcba9876543210",
                "OrganizationArns", List.of("arn:aws:organizations::999999999999:organization/o-goldenorg01"),
                "KmsGrants", "false"));
        template.hasResourceProperties("Custom::SharedWorkspaceImage", Map.of(
                "ImageId", "wsi-0123abcde",
                "Accounts", List.of("444444444444", "555555555555")));
    }

    @Test
    void oneHandlerPerConstructType() {
        Template template = synth();
        assertEquals(1, handlerFunctions(template, "SharedAmiProvider handler (onEvent)"));
        assertEquals(1, handlerFunctions(template, "SharedWorkspaceImageProvider handler (onEvent)"));
    }

    @Test
    void validationErrorsReachJava() {
        App app = new App();
        Stack stack = new Stack(app, "Bad");
        // jsii surfaces the construct's JavaScript error as a JsiiError
        JsiiError err = assertThrows(JsiiError.class, () -> SharedAmi.Builder.create(stack, "Bad")
                .imageId("ami-123")
                .accounts(List.of("111111111111"))
                .build());
        assertTrue(String.valueOf(err.getMessage()).contains("is not an AMI id"),
                "unexpected error message: " + err.getMessage());
    }

    /** Guards against Maven testing a stale copy of the package cached in the local repository (~/.m2). */
    @Test
    void testsTheJarInDistJava() throws Exception {
        String distJar = System.getProperty("smoke.distJar");
        assertNotNull(distJar, "smoke.distJar is not set (run via scripts/java-smoke.sh)");
        Path loaded = Paths.get(SharedAmi.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        assertArrayEquals(Files.readAllBytes(Paths.get(distJar)), Files.readAllBytes(loaded),
                "the package on the test classpath (" + loaded + ") is not the one in " + distJar);
    }
}
