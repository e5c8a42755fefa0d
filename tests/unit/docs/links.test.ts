import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** README.md and every Markdown file under docs/. */
function markdownFiles(): string[] {
  const found: string[] = [join(ROOT, 'README.md')];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  if (existsSync(join(ROOT, 'docs'))) walk(join(ROOT, 'docs'));
  return found;
}

/** The text outside fenced code blocks and inline code spans, where links and headings live. */
function prose(text: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker !== undefined) fence = marker;
    else if (fence !== null && marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
    else if (fence === null) lines.push(line.replace(/(`+)[^`]*?\1/g, ''));
    else lines.push('');
  }
  return lines;
}

/**
 * GitHub's anchor for a heading: markup removed, lowercased, every character that is not a letter,
 * digit, underscore, hyphen or space dropped, spaces turned to hyphens; a repeated slug gets -1, -2….
 */
function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker !== undefined) fence = marker;
    else if (fence !== null && marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
    if (fence !== null || marker !== undefined) continue;
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links and images, `[text](target "title")` and `![alt](target)`, and reference definitions. */
function links(file: string): Link[] {
  const out: Link[] = [];
  prose(readFileSync(file, 'utf8')).forEach((text, i) => {
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ file, line: i + 1, target: m[1] });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(text);
    if (def !== null) out.push({ file, line: i + 1, target: def[1] });
  });
  return out;
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

test('the slug follows GitHub', () => {
  assert.equal(slug('Keys and roles'), 'keys-and-roles');
  assert.equal(slug('What metrics cost (`npm run bench:ops`)'), 'what-metrics-cost-npm-run-benchops');
  assert.equal(slug('Hardening: bad input, crashes, a full disk and sustained load'), 'hardening-bad-input-crashes-a-full-disk-and-sustained-load');
  assert.equal(slug('HNSW (arXiv 1603.09320)'), 'hnsw-arxiv-160309320');
  assert.equal(slug('Links and the k-NN overlay'), 'links-and-the-k-nn-overlay');
  assert.equal(slug('Filters (`where`)'), 'filters-where');
  assert.deepEqual([...anchors('# A\n## B\n```\n# not a heading\n```\n## B\n### B')], ['a', 'b', 'b-1', 'b-2']);
});

test('the link checker finds links and images outside code', () => {
  const text = 'see [a](x.md#y) and ![i](img/p.png "t")\n`[not](code.md)`\n```\n[not](fenced.md)\n```\n[ref]: ref.md';
  assert.deepEqual(
    prose(text).flatMap((line) => [...line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1])),
    ['x.md#y', 'img/p.png'],
  );
});

test('every relative link and anchor in README.md and docs/ resolves', () => {
  const files = markdownFiles();
  assert.ok(files.length >= 2, 'README.md and docs/ are there');
  const cache = new Map<string, Set<string>>();
  const anchorsOf = (path: string): Set<string> => {
    let set = cache.get(path);
    if (set === undefined) cache.set(path, (set = anchors(readFileSync(path, 'utf8'))));
    return set;
  };
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const { line, target } of links(file)) {
      if (isExternal(target) || target === '') continue;
      checked += 1;
      const where = `${relative(ROOT, file)}:${line}: ${target}`;
      const hash = target.indexOf('#');
      const pathPart = decodeURI(hash === -1 ? target : target.slice(0, hash));
      const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
      const path = pathPart === '' ? file : resolve(dirname(file), pathPart);
      if (!existsSync(path)) {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (anchor !== null && path.endsWith('.md') && statSync(path).isFile() && !anchorsOf(path).has(anchor)) {
        broken.push(`${where}: no heading #${anchor} in ${relative(ROOT, path)}`);
      }
    }
  }
  assert.ok(checked > 20, `found ${checked} relative links`);
  assert.equal(broken.join('\n'), '', 'broken links');
});

test('README.md and docs/ cite only what a reader of the repository can open', () => {
  // Developers' notes kept outside the repository: their names, and the folder beside it that holds them.
  const forbidden = [...['PAPERS', 'STACK', 'DESIGN', 'STYLE'].map((name) => `${name}.md`), ['..', 'shared'].join('/')];
  const found: string[] = [];
  for (const file of markdownFiles()) {
    const text = readFileSync(file, 'utf8');
    for (const name of forbidden) if (text.includes(name)) found.push(`${relative(ROOT, file)} mentions ${name}`);
  }
  assert.equal(found.join('\n'), '');
});
