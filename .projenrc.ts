import { awscdk, javascript, release } from 'projen';

// aws-cdk-lib is the minimum consumers need (cdk-nag 3.x, used in our tests, needs >= 2.257).
// integ-tests-alpha: the registry's newest release; its peer range (^2.245.0) covers 2.257.
const CDK_VERSION = '2.257.0';
const INTEG_TESTS_ALPHA = '2.245.0-alpha.0';
// The handlers bundle their own AWS SDK v3 clients (see README, "Why the SDK is bundled"):
// exact pins, so the client the tests ran is the client Lambda runs.
const SDK_DEPS = [
  '@aws-sdk/client-ec2@3.1169.0',
  '@aws-sdk/client-kms@3.1162.0',
  '@aws-sdk/client-sts@3.1169.0',
  '@aws-sdk/client-workspaces@3.1048.0',
  // The record of which resource holds which share (Parameter Store; see DESIGN.md, "Ownership").
  '@aws-sdk/client-ssm@3.1169.0',
  // The KMS client's retry strategy (KMS's LimitExceededException is a quota, not throttling):
  // the version the clients above resolve to.
  '@smithy/core@3.41.0',
];

const project = new awscdk.AwsCdkConstructLibrary({
  author: 'cdk-shared-images maintainers',
  authorAddress: 'maintainers@example.com',
  cdkVersion: CDK_VERSION,
  constructsVersion: '10.5.1',
  defaultReleaseBranch: 'main',
  jsiiVersion: '~6.0.0',
  name: 'cdk-shared-images',
  description: 'CDK constructs that share EC2 AMIs and WorkSpaces images with accounts, organizations and OUs, and keep AWS in exactly the declared state.',
  keywords: ['cdk', 'ami', 'workspaces', 'share', 'kms', 'golden-image'],
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  repositoryUrl: 'https://example.com/cdk-shared-images.git',
  license: 'Apache-2.0',

  // No hosted CI of ours: .ci/run is the gate. The release tooling stays (bump writes the
  // changelog from conventional commits), without workflows.
  github: false,
  release: true,
  // `npx projen release` bumps the version from the conventional commits since the last tag and
  // writes dist/changelog.md; `npx projen publish:git` then prepends it to CHANGELOG.md and tags
  // the release (pushing is left to the maintainer: no remote is assumed).
  releaseTrigger: release.ReleaseTrigger.manual({ changelogPath: 'CHANGELOG.md', gitPushCommand: '' }),

  // jsii targets: built by `npx projen package-all` (jsii-pacmak), which CI runs.
  publishToPypi: { distName: 'cdk-shared-images', module: 'cdk_shared_images' },
  publishToMaven: {
    javaPackage: 'io.github.cdksharedimages',
    mavenGroupId: 'io.github.cdk-shared-images',
    mavenArtifactId: 'cdk-shared-images',
  },
  publishToGo: { moduleName: 'github.com/cdk-shared-images/cdk-shared-images-go' },

  lambdaAutoDiscover: false,
  integrationTestAutoDiscover: false,

  devDeps: [
    ...SDK_DEPS,
    '@types/aws-lambda',
    'aws-sdk-client-mock@4.1.0',
    'aws-sdk-client-mock-jest@4.1.0',
    `@aws-cdk/integ-tests-alpha@${INTEG_TESTS_ALPHA}`,
    '@aws-cdk/integ-runner@2.197.10',
    'cdk-nag@3.0.2',
    'esbuild@0.28.2',
    'fast-check@4.10.2',
  ],

  jestOptions: {
    // CI must fail on a stale snapshot, never rewrite it. `npx projen test:update` rewrites.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    // Totals only on the console (text-summary below); the per-file table is in coverage/lcov-report.
    coverageText: false,
    jestConfig: {
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testTimeout: 60_000,
      setupFiles: ['<rootDir>/test/setup-backoff.ts'],
      coveragePathIgnorePatterns: ['/node_modules/', '/test/'],
      coverageReporters: ['json', 'lcov', 'clover', 'cobertura', 'text-summary'],
      // Syntheses without an outdir write cdk.out* folders into TMPDIR: one folder per run, removed after it.
      globalSetup: '<rootDir>/test/tmpdir-setup.ts',
      globalTeardown: '<rootDir>/test/tmpdir-teardown.ts',
    },
  },
  eslintOptions: {
    dirs: ['src', 'lambda'],
    devdirs: ['test', 'projenrc', 'scripts', 'example', 'benchmarks'],
    // Lint reports, it does not rewrite: a fix is a commit, not a side effect of testing.
    commandOptions: { fix: false },
  },
  tsconfigDev: {
    include: ['../example/**/*.ts', '../scripts/**/*.ts'],
    compilerOptions: {},
  },
  // /*.from-cache-*: a tree the install cache is still linking (scripts/install-cache.sh).
  gitignore: ['/.venv/', 'cdk.out/', '/.example-out/', '/*.from-cache-*'],
});

// ---------------------------------------------------------------------------------------------
// Handlers: top-level lambda/, bundled (esbuild, minified, SDK included) into assets/ at build.
// ---------------------------------------------------------------------------------------------
const handlers = [
  { entrypoint: 'lambda/shared-ami.lambda.ts', constructFile: 'src/shared-ami-function.ts' },
  { entrypoint: 'lambda/shared-workspace-image.lambda.ts', constructFile: 'src/shared-workspace-image-function.ts' },
];
for (const h of handlers) {
  new awscdk.LambdaFunction(project, {
    entrypoint: h.entrypoint,
    constructFile: h.constructFile,
    cdkDeps: project.cdkDeps,
    runtime: awscdk.LambdaRuntime.NODEJS_24_X,
    awsSdkConnectionReuse: false, // SDK v3 reuses connections by itself; the env var is v2-only
    bundlingOptions: { externals: [], sourcemap: false },
  });
  // projen's bundle task takes no minify flag and type-checks nothing: re-state it with the
  // handlers' own tsconfig, minified, with a license file beside the bundle.
  const name = h.entrypoint.replace(/\.ts$/, '');
  const outdir = `assets/${name}`;
  project.tasks.tryFind(`bundle:${name}`)!.reset(
    // --log-level=warning: no size report (it flags the 1.5 MB SDK-inclusive bundle as if at fault).
    `esbuild --bundle ${h.entrypoint} --target=node24 --platform=node --minify --legal-comments=external --log-level=warning ` +
    `--tsconfig=lambda/tsconfig.json --outfile=${outdir}/index.js`,
  );
}
project.eslint?.allowDevDeps('lambda/**');

// The tooling (jsii 6, aws-cdk-lib) runs on Node 20.16 or newer; the handlers run on Node 24 in Lambda.
project.package.addEngine('node', '>= 20.16.0');
// The AWS SDK warns, once per process, that its releases from 2027 need Node 22. In every task of
// this repository (tests, demo, integ, reliability, benchmarks) that is noise: the SDK is bundled
// into handlers that run on Node 24. It is left alone everywhere else (users' own tools).
project.tasks.addEnvironment('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', 'true');

// lambda/ gets its own tsconfig (Node runtime types, strict), type-checked on every test run:
// esbuild and ts-jest only strip types.
new javascript.TypescriptConfig(project, {
  fileName: 'lambda/tsconfig.json',
  include: ['**/*.ts'],
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: javascript.TypeScriptModuleResolution.BUNDLER,
    lib: ['es2022'],
    types: ['node', 'aws-lambda'],
    strict: true,
    noEmit: true,
    esModuleInterop: true,
    skipLibCheck: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    noImplicitReturns: true,
    noFallthroughCasesInSwitch: true,
    resolveJsonModule: true,
  },
});
// example/ and benchmarks/ are type-checked and linted with the tests' settings.
for (const dir of ['example', 'benchmarks']) {
  new javascript.TypescriptConfig(project, {
    fileName: `${dir}/tsconfig.json`,
    extends: javascript.TypescriptConfigExtends.fromPaths(['../test/tsconfig.json']),
    include: ['**/*.ts'],
    compilerOptions: {},
  });
}
const typecheck = project.addTask('typecheck', {
  description: 'Type-check the handlers (lambda/tsconfig.json) and the tests and example (test/tsconfig.json)',
  steps: [
    { exec: 'tsc -p lambda/tsconfig.json' },
    { exec: 'tsc -p test/tsconfig.json' },
    { exec: 'tsc -p example/tsconfig.json' },
    { exec: 'tsc -p benchmarks/tsconfig.json' },
  ],
});

// ---------------------------------------------------------------------------------------------
// Local AWS: moto's server in a project-local virtualenv, installed by the test command itself.
// ---------------------------------------------------------------------------------------------
const emulatorSetup = project.addTask('emulator:setup', {
  description: 'Install moto (the local AWS) into .venv: from the install cache or PyPI, once per requirements change',
  steps: [{ exec: 'bash scripts/emulator-setup.sh' }],
});

// ---------------------------------------------------------------------------------------------
// Integration snapshots: integ-tests-alpha apps, verified against the committed snapshot
// without deploying (integ-runner fails on a difference; integ:update rewrites, never deploys).
// ---------------------------------------------------------------------------------------------
project.addTask('integ', {
  description: 'Verify the integration snapshots (no deployment)',
  steps: [{ exec: 'integ-runner --language typescript --directory test/integ --parallel-regions us-east-1' }],
});
project.addTask('integ:update', {
  description: 'Re-synthesize the integration snapshots without deploying (--dry-run)',
  steps: [{ exec: 'integ-runner --language typescript --directory test/integ --parallel-regions us-east-1 --update-on-failed --dry-run --force' }],
});

// Test layers (CONTRIBUTING "Test layers"). `projen test` is the fast layer: bundle (a fresh
// checkout has no asset yet, and constructs synthesize against it), type-check, the construct and
// handler unit tests, lint; no Python, no network. The emulator layer (the real handlers against
// a local moto), the integ snapshots, the reliability run and the packaging checks are tasks of
// their own, which the README test command (scripts/test.sh) and CI run after it.
// Every test that starts moto: the emulator scenarios and the reliability harness's own tests.
const EMULATOR_TESTS = '/test/emulator/ /test/reliability/';
const bundle = project.tasks.tryFind('bundle')!;
project.testTask.reset();
project.testTask.spawn(bundle);
project.testTask.spawn(typecheck);
project.testTask.exec(`jest --passWithNoTests --coverageProvider=v8 --ci --testPathIgnorePatterns /node_modules/ ${EMULATOR_TESTS}`);
project.testTask.spawn(project.tasks.tryFind('eslint')!);
const emulatorTests = project.addTask('test:emulator', {
  description: 'The real handlers against a local moto made as strict as AWS, and the reliability harness\'s tests (Python: .venv)',
  // Its own JUnit report beside the fast layer's junit.xml; coverage comes from the fast layer.
  env: { JEST_JUNIT_OUTPUT_NAME: 'junit-emulator.xml' },
  steps: [{ exec: `jest --ci --coverage=false ${EMULATOR_TESTS}` }],
});
emulatorTests.prependSpawn(bundle);
emulatorTests.prependSpawn(emulatorSetup);

// Go: jsii-pacmak would build the module against aws-cdk-go from the Go module proxy, which
// refuses two of aws-cdk-go's dependencies here (403). It generates the code only; the Go smoke
// test (ci:go-smoke) compiles and runs it, with those two generated from their npm packages.
project.tasks.tryFind('package:go')!.reset('jsii-pacmak -v --target go --code-only');

// CI packaging and language checks (README "Tests"): jsii-pacmak for every target, the Python
// wheel synthesized from Python code, cfn-lint over every synthesized template.
// Docs that cannot rot: every TypeScript example in README.md and in the API docs compiles under
// jsii-rosetta strict mode (also declared in package.json for Construct Hub's own run), against the
// fixture in rosetta/; API.md is generated from the assembly in TypeScript and Python.
project.package.file.addOverride('jsii.metadata.jsii.rosetta.strict', true);
project.gitignore.exclude('/.jsii.tabl.json');
const rosetta = project.addTask('rosetta:extract', {
  description: 'Compile every README and API-doc example in strict mode and translate it (.jsii.tabl.json)',
  steps: [{ exec: 'jsii-rosetta extract --strict' }],
});
// docgen (run by post-compile, i.e. by `projen build`) compiles the examples strictly first:
// jsii-docgen alone translates an example that does not compile without complaint.
const docgen = project.tasks.tryFind('docgen')!;
docgen.reset();
docgen.spawn(rosetta);
docgen.exec('node scripts/docgen.js');
const docsCheck = project.addTask('docs:check', {
  description: 'Fail when an example does not compile or API.md differs from what the code generates',
  steps: [{ spawn: rosetta.name }, { exec: 'node scripts/docgen.js --check' }],
});

project.addTask('ci:package', {
  description: 'Compile with jsii, check the docs, and build every language package (dist/)',
  steps: [{ spawn: 'compile' }, { spawn: docsCheck.name }, { spawn: 'package-all' }],
});
project.addTask('ci:python-smoke', {
  description: 'Install the built wheel into a fresh virtualenv and synthesize stacks from Python',
  steps: [{ exec: 'bash scripts/python-smoke.sh' }],
});
project.addTask('ci:java-smoke', {
  description: 'JUnit (Maven Surefire) against the jsii-pacmak Maven package in dist/java, aws-cdk-lib from Maven Central',
  steps: [{ exec: 'bash scripts/java-smoke.sh' }],
});
project.gitignore.exclude('/test/java-smoke/target/');
project.addTask('ci:go-smoke', {
  description: 'go test against the jsii-pacmak Go module in dist/go, aws-cdk-go from the Go module proxy',
  steps: [{ exec: 'bash scripts/go-smoke.sh' }],
});
project.gitignore.exclude('/test/go-smoke/.deps/');
project.addTask('ci:cfn-lint', {
  description: 'cfn-lint (PyPI) over the example app and the integ snapshots: zero errors',
  steps: [{ exec: 'bash scripts/cfn-lint.sh' }],
});

project.addTask('lint:fix', {
  description: 'Apply eslint fixes',
  steps: [{ exec: 'eslint --ext .ts --fix src lambda test projenrc .projenrc.ts' }],
});

// ---------------------------------------------------------------------------------------------
// The main job: synthesize the example golden-image app and play its shares against moto.
// ---------------------------------------------------------------------------------------------
const demo = project.addTask('demo', {
  description: 'Synthesize the example app, then play its shares create -> update -> delete against a local moto',
  steps: [{ exec: 'ts-node --transpile-only --project example/tsconfig.json example/demo.ts' }],
});
demo.prependSpawn(bundle);
demo.prependSpawn(emulatorSetup);

// Reliability: random lifecycles, injected faults and malformed input against moto;
// prints the figures and fails on any invariant violation or stuck delete. .ci/run runs it.
const reliability = project.addTask('reliability', {
  description: 'Random lifecycles, injected faults and malformed input against moto; prints the figures (RELIABILITY_RUNS, RELIABILITY_SEED)',
  env: { SHARED_IMAGES_QUIET: '1' },
  steps: [{ exec: 'ts-node --transpile-only --project example/tsconfig.json test/reliability/run.ts' }],
});
reliability.prependSpawn(emulatorSetup);

// Benchmarks: figures, not tests; writes BENCHMARKS.md (about five minutes on 2 CPUs).
const benchmark = project.addTask('benchmark', {
  description: 'Measure synth scale, AWS calls, WorkSpaces concurrency and handler cost beside the baselines; write BENCHMARKS.md',
  steps: [{ exec: 'ts-node --transpile-only --project benchmarks/tsconfig.json benchmarks/run.ts', receiveArgs: true }],
});
benchmark.prependSpawn(bundle);
benchmark.prependSpawn(emulatorSetup);

// Ship the bundled handlers, never their TypeScript sources.
project.npmignore?.exclude('/lambda/', '/example/', '/scripts/', '/.venv/', '/.ci/', '/benchmarks/', '/BENCHMARKS.md', '/CONTRIBUTING.md', '/.example-out/');


// After every component has added its own patterns (a later `!/test/` would drop these):
// integ-runner compares templates, not asset contents, so the bundled assets stay out of git.
project.gitignore.addPatterns('/test/integ/*.snapshot/asset.*');

project.synth();
