#!/usr/bin/env bash
# Runs the Java smoke test (test/java-smoke, JUnit 5 under Maven Surefire) against the jsii-pacmak-built
# Maven package in dist/java, with aws-cdk-lib (the devDependencies version) from Maven Central.
# Build output goes to test/java-smoke/target.
set -euo pipefail
cd "$(dirname "$0")/.."
artifact_dir=dist/java/io/github/cdk-shared-images/cdk-shared-images
[ -d "$artifact_dir" ] || { echo "no Maven package in dist/java: run npx projen package:java first" >&2; exit 1; }
if ! command -v mvn >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing Maven and a JDK from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven default-jdk-headless >/dev/null
fi
command -v mvn >/dev/null || { echo "mvn not found: the Java smoke test needs Maven (and a JDK 11+)" >&2; exit 1; }
cdk_version=$(node -p "require('./package.json').devDependencies['aws-cdk-lib']")
version=$(node -p "require('./package.json').version")
if [ ! -f "$artifact_dir/$version/cdk-shared-images-$version.jar" ]; then
  # a release build packages a bumped version, and unbump resets package.json afterwards
  built=$(cd "$artifact_dir" && ls -d */ 2>/dev/null | tr -d /)
  [ "$(echo "$built" | grep -c .)" = 1 ] || {
    echo "dist/java has no cdk-shared-images $version and not exactly one other version (${built:-none}): rebuild with npx projen package:java" >&2
    exit 1
  }
  echo "package.json says $version; testing the version dist/java holds: $built"
  version=$built
fi
# Maven 3.8 writes a colour reset (ESC[0m) for each line that -q leaves out, even in batch mode.
plain() { sed -u 's/\x1b\[[0-9;]*m//g'; }
# dist/java is rebuilt in place under the same version, and Maven never re-fetches a release it has cached in
# its local repository (~/.m2): forget the cached copy first. (Inside the test build this would be too late:
# Maven resolves the dependencies before the first plugin runs.) Run outside any project: no pom.xml here.
mvn -B -q --no-transfer-progress \
  org.apache.maven.plugins:maven-dependency-plugin:3.6.1:purge-local-repository \
  -DmanualInclude=io.github.cdk-shared-images:cdk-shared-images -DreResolve=false 2>&1 | plain
rm -rf test/java-smoke/target/surefire-reports
# The jsii runtime unpacks itself into java.io.tmpdir (/tmp, whatever TMPDIR says) and leaves it there.
java_tmp=$(mktemp -d)
trap 'rm -rf "$java_tmp"' EXIT
status=0
mvn -B --no-transfer-progress -f test/java-smoke/pom.xml \
  -Dcdk.version="$cdk_version" -Dshared-images.version="$version" -DargLine="-Djava.io.tmpdir=$java_tmp" \
  test 2>&1 | plain || status=$?
# Surefire's reports join the others in test-reports/ (the test command's closing line sums them).
mkdir -p test-reports
for report in test/java-smoke/target/surefire-reports/TEST-*.xml; do
  [ -f "$report" ] && cp "$report" "test-reports/java-smoke-$(basename "$report")"
done
exit $status
