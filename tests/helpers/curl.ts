import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One `curl` example of the docs: what it sends, and where it is written. */
export interface CurlCall {
  method: string;
  path: string;
  /** The `-d` body as written; null without one (or one read from a file, `-d @file`). */
  body: string | null;
  where: string;
}

/** Splits a shell command into words: single and double quotes, backslash escapes and line continuations. */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      word = (word ?? '') + command.slice(i + 1, end === -1 ? undefined : end);
      i = end === -1 ? command.length : end;
    } else if (c === '"') {
      let text = '';
      for (i++; i < command.length && command[i] !== '"'; i++) text += command[i] === '\\' && /["\\$`]/.test(command[i + 1] ?? '') ? command[++i] : command[i];
      word = (word ?? '') + text;
    } else if (c === '\\') {
      if (command[i + 1] !== '\n') word = (word ?? '') + (command[i + 1] ?? '');
      i++;
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

const DATA = new Set(['-d', '--data', '--data-raw', '--data-binary', '--json']);
const WITH_VALUE = new Set(['-H', '--header', '-u', '--user', '-o', '--output', '--url', '-w', '--write-out', '-A', '--cacert', '--cert', '--key']);

/** The curl calls of a Markdown text: each `curl` command, continued over lines ending in `\`. */
export function curlCalls(markdown: string, file: string): CurlCall[] {
  const lines = markdown.split('\n');
  const calls: CurlCall[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = lines[i].search(/(^|[\s`$(])curl\s/);
    if (start === -1) continue;
    // In inline code (`curl …`) the command ends at the closing backtick.
    const inline = lines[i][start] === '`';
    let command = lines[i].slice(start).replace(/^[\s`$(]/, '');
    if (inline) command = command.split('`')[0];
    const line = i + 1;
    while (/\\\s*$/.test(command) && i + 1 < lines.length) command = command.replace(/\\\s*$/, ' ') + lines[++i];
    const words = shellWords(command);
    let method: string | null = null;
    let url: string | null = null;
    let body: string | null = null;
    for (let w = 1; w < words.length; w++) {
      const word = words[w];
      if (['|', '&&', ';', '||', '#'].includes(word)) break;
      if (word === '-X' || word === '--request') method = words[++w];
      else if (/^-X[A-Z]+$/.test(word)) method = word.slice(2);
      else if (DATA.has(word)) body = words[++w];
      else if (word === '--url') url = words[++w];
      else if (WITH_VALUE.has(word)) w++;
      else if (!word.startsWith('-') && url === null) url = word;
    }
    if (url === null) continue;
    const path = url.replace(/^https?:\/\//, '').replace(/^[^/]*/, '') || '/';
    calls.push({ method: method ?? (body === null ? 'GET' : 'POST'), path, body: body?.startsWith('@') ? null : body, where: `${file}:${line}` });
  }
  return calls;
}

/** README.md and every Markdown file under docs/. */
export function markdownFiles(): string[] {
  const files = [join(ROOT, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.md')) files.push(join(dir, entry.name));
    }
  };
  if (existsSync(join(ROOT, 'docs'))) walk(join(ROOT, 'docs'));
  return files;
}
