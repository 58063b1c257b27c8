// Go smoke test of the jsii-pacmak-built Go module (dist/go); run by scripts/go-smoke.sh.
module github.com/cdk-shared-images/cdk-shared-images-go-smoke

go 1.25.0

require (
	github.com/aws/aws-cdk-go/awscdk/v2 v2.257.0
	github.com/aws/jsii-runtime-go v1.140.0
	github.com/cdk-shared-images/cdk-shared-images-go/cdksharedimages v0.0.0
)

require (
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/aws/constructs-go/constructs/v10 v10.5.1 // indirect
	github.com/cdklabs/awscdk-asset-awscli-go/awscliv1/v2 v2.2.273 // indirect
	github.com/cdklabs/awscdk-asset-node-proxy-agent-go/nodeproxyagentv6/v2 v2.1.3 // indirect
	github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v53 v53.28.0 // indirect
)

// The module under test: what jsii-pacmak wrote to dist/go.
replace github.com/cdk-shared-images/cdk-shared-images-go/cdksharedimages => ../../dist/go/cdksharedimages

// Two of aws-cdk-go's dependencies are refused by the Go module proxy this project reaches (403).
// scripts/go-smoke.sh generates them with jsii-pacmak from the npm packages they are published
// from (@aws-cdk/cloud-assembly-schema, @aws-cdk/asset-node-proxy-agent-v6: the versions in
// node_modules), into .deps/.
replace github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v53 => ./.deps/cloud-assembly-schema/go/awscdkcloudassemblyschema

replace github.com/cdklabs/awscdk-asset-node-proxy-agent-go/nodeproxyagentv6/v2 => ./.deps/asset-node-proxy-agent-v6/go/nodeproxyagentv6
