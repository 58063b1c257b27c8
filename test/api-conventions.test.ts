import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

/**
 * The public API follows aws-cdk-lib's naming conventions (README, "Choices"). Read from `src/`
 * with the TypeScript compiler, so the check runs before (and without) the jsii assembly:
 *
 * - every public readonly property of a construct is an attribute: it carries `@attribute` and
 *   starts with the construct's type name (`sharedAmi...` on `SharedAmi`);
 * - `grant*` is reserved for methods that take an `iam.IGrantable` and return an `iam.Grant`: no
 *   prop, attribute or other method may start with `grant`.
 */

const SRC = path.join(__dirname, '..', 'src');

interface Finding { readonly where: string; readonly problem: string }

/** The modules `src/index.ts` re-exports: the public API (`private/` is never exported). */
function publicApi(): ts.SourceFile[] {
  const index = fs.readFileSync(path.join(SRC, 'index.ts'), 'utf8');
  const modules = [...index.matchAll(/export \* from '\.\/([\w-]+)'/g)].map((m) => `${m[1]}.ts`);
  return modules.map((m) => ts.createSourceFile(m, fs.readFileSync(path.join(SRC, m), 'utf8'), ts.ScriptTarget.ES2020, true));
}

function isExported(node: ts.Node): boolean {
  return hasModifier(node, ts.SyntaxKind.ExportKeyword);
}

function hasModifier(node: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

function extendsConstruct(node: ts.ClassDeclaration): boolean {
  return (node.heritageClauses ?? []).some((h) => h.token === ts.SyntaxKind.ExtendsKeyword
    && h.types.some((t) => /(^|\.)(Construct|Resource)$/.test(t.expression.getText())));
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function isGrantMethod(node: ts.MethodDeclaration): boolean {
  const takesGrantable = node.parameters.some((p) => p.type !== undefined && /(^|\.)IGrantable$/.test(p.type.getText()));
  const returnsGrant = node.type !== undefined && /(^|\.)Grant$/.test(node.type.getText());
  return takesGrantable && returnsGrant;
}

function findings(): Finding[] {
  const out: Finding[] = [];
  for (const file of publicApi()) {
    ts.forEachChild(file, (node) => {
      if (!isExported(node)) return;
      if (ts.isInterfaceDeclaration(node)) {
        for (const member of node.members) {
          const name = member.name?.getText();
          if (name && /^grant/.test(name)) {
            out.push({ where: `${node.name.text}.${name}`, problem: 'only a method taking iam.IGrantable and returning iam.Grant may start with "grant"' });
          }
        }
      }
      if (!ts.isClassDeclaration(node) || !node.name) return;
      const cls = node.name.text;
      const construct = extendsConstruct(node);
      for (const member of node.members) {
        if (hasModifier(member, ts.SyntaxKind.PrivateKeyword) || hasModifier(member, ts.SyntaxKind.ProtectedKeyword)) continue;
        if (member.name && ts.isPrivateIdentifier(member.name)) continue;
        const name = member.name?.getText();
        if (!name) continue;
        const where = `${cls}.${name}`;
        if (ts.isMethodDeclaration(member)) {
          if (/^grant/.test(name) && !isGrantMethod(member)) {
            out.push({ where, problem: 'a grant* method must take an iam.IGrantable and return an iam.Grant' });
          }
          continue;
        }
        if (/^grant/.test(name)) {
          out.push({ where, problem: 'only a method taking iam.IGrantable and returning iam.Grant may start with "grant"' });
        }
        if (!construct || hasModifier(member, ts.SyntaxKind.StaticKeyword)) continue;
        if (ts.isPropertyDeclaration(member) || ts.isGetAccessorDeclaration(member)) {
          const tags = ts.getJSDocTags(member).map((t) => t.tagName.text);
          if (!tags.includes('attribute')) out.push({ where, problem: 'a public property of a construct is an attribute: tag it @attribute' });
          if (!name.startsWith(lowerFirst(cls))) out.push({ where, problem: `an attribute starts with the type name: ${lowerFirst(cls)}...` });
        }
      }
    });
  }
  return out;
}

describe('public API naming conventions', () => {
  const all = findings();

  test('the check sees the constructs (it would pass vacuously otherwise)', () => {
    const names = publicApi().map((f) => path.basename(f.fileName));
    expect(names).toEqual(expect.arrayContaining(['shared-ami.ts', 'shared-workspace-image.ts']));
  });

  test('construct attributes carry @attribute and the type prefix', () => {
    expect(all.filter((f) => !f.problem.includes('grant'))).toEqual([]);
  });

  test('nothing but an IGrantable -> Grant method starts with "grant"', () => {
    expect(all.filter((f) => f.problem.includes('grant'))).toEqual([]);
  });
});
