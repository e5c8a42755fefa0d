/**
 * A small Dockerfile reader for tests: stages and their instructions, the argument forms Docker
 * uses (exec/shell, ENV, COPY, HEALTHCHECK) and .dockerignore matching. Only what Vicinity's
 * Dockerfile needs; anything else is reported, never guessed.
 */

export interface Instruction {
  /** Upper case: FROM, RUN, COPY… */
  keyword: string;
  /** The rest of the instruction, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** The FROM image, or an earlier stage's name. */
  from: string;
  name: string | null;
  index: number;
  instructions: Instruction[];
}

/** Instructions grouped by stage; comments, blank lines and `\` continuations handled as Docker does. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  let current = '';
  let start = 0;
  const flush = (): void => {
    const body = current.trim();
    current = '';
    if (body === '') return;
    const match = /^(\S+)\s*([\s\S]*)$/.exec(body)!;
    const instruction = { keyword: match[1].toUpperCase(), args: match[2].trim(), line: start };
    if (instruction.keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!from) throw new Error(`line ${start}: cannot read FROM ${instruction.args}`);
      stages.push({ from: from[1], name: from[2] ?? null, index: stages.length, instructions: [] });
      return;
    }
    if (stages.length === 0) {
      if (instruction.keyword === 'ARG') return; // a global ARG before the first FROM
      throw new Error(`line ${start}: ${instruction.keyword} before FROM`);
    }
    stages.at(-1)!.instructions.push(instruction);
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) return; // comments (and parser directives), also inside continuations
    if (line.trim() === '') return; // blank lines, also inside continuations
    if (current === '') start = i + 1;
    if (/\\\s*$/.test(line)) {
      current += line.replace(/\\\s*$/, '') + ' ';
    } else {
      current += line;
      flush();
    }
  });
  flush();
  return stages;
}

/** `$VAR` and `${VAR}` from the stage's environment, as Docker expands them in ENV, COPY, WORKDIR… */
export function expand(text: string, env: Record<string, string>): string {
  return text.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_m, braced: string | undefined, bare: string | undefined) => env[(braced ?? bare)!] ?? '');
}

/** Exec form (a JSON array of strings) or shell form (the string itself). */
export function commandOf(args: string): string[] | string {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not a JSON array of strings: ${args}`);
    return parsed;
  }
  return args;
}

/** Words of a shell-like line, with "double" and 'single' quotes and backslash escapes. */
export function words(text: string): string[] {
  const out: string[] = [];
  const pattern = /"((?:\\.|[^"\\])*)"|'([^']*)'|((?:\\.|[^\s"'\\])+)|(\s+)/g;
  let word: string | null = null;
  for (const m of text.matchAll(pattern)) {
    if (m[4] !== undefined) {
      if (word !== null) out.push(word);
      word = null;
      continue;
    }
    const piece = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2] !== undefined ? m[2] : m[3].replace(/\\(.)/g, '$1');
    word = (word ?? '') + piece;
  }
  if (word !== null) out.push(word);
  return out;
}

/** `ENV a=b c="d e"` or the old `ENV a b`. */
export function parseEnv(args: string, env: Record<string, string> = {}): Record<string, string> {
  const parts = words(args);
  if (parts.length > 0 && !parts[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(args)!;
    return { [m[1]]: expand(m[2], env) };
  }
  const out: Record<string, string> = {};
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`ENV: cannot read '${part}'`);
    out[part.slice(0, eq)] = expand(part.slice(eq + 1), { ...env, ...out });
  }
  return out;
}

export interface Copy {
  from: string | null;
  chown: string | null;
  sources: string[];
  dest: string;
}

export function parseCopy(args: string, env: Record<string, string> = {}): Copy {
  let from: string | null = null;
  let chown: string | null = null;
  let rest = args;
  for (;;) {
    const flag = /^--(\w+)=(\S+)\s+/.exec(rest);
    if (!flag) break;
    if (flag[1] === 'from') from = flag[2];
    else if (flag[1] === 'chown') chown = flag[2];
    else throw new Error(`COPY --${flag[1]} is not supported by this reader`);
    rest = rest.slice(flag[0].length);
  }
  const command = commandOf(rest);
  const all = (typeof command === 'string' ? words(command) : command).map((p) => expand(p, env));
  if (all.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { from, chown, sources: all.slice(0, -1), dest: all.at(-1)! };
}

export interface Healthcheck {
  /** --interval, --timeout… without the dashes. */
  options: Record<string, string>;
  command: string[] | string;
}

/** `HEALTHCHECK [--opt=value…] CMD …`; null for `HEALTHCHECK NONE`. */
export function parseHealthcheck(args: string): Healthcheck | null {
  if (/^NONE$/i.test(args)) return null;
  const options: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const flag = /^--([\w-]+)=(\S+)\s+/.exec(rest);
    if (!flag) break;
    options[flag[1]] = flag[2];
    rest = rest.slice(flag[0].length);
  }
  const cmd = /^CMD\s+([\s\S]+)$/i.exec(rest);
  if (!cmd) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  return { options, command: commandOf(cmd[1]) };
}

/** `VOLUME ["/a", "/b"]` or `VOLUME /a /b`. */
export function listOf(args: string): string[] {
  const command = commandOf(args);
  return typeof command === 'string' ? words(command) : command;
}

/** What a stage leaves set for the image: its ENV, WORKDIR, USER, CMD… (the last of each). */
export interface StageState {
  env: Record<string, string>;
  workdir: string;
  user: string | null;
  volumes: string[];
  expose: string[];
  cmd: string[] | string | null;
  healthcheck: Healthcheck | null;
  stopsignal: string | null;
}

export function stageState(stage: Stage): StageState {
  const state: StageState = { env: {}, workdir: '/', user: null, volumes: [], expose: [], cmd: null, healthcheck: null, stopsignal: null };
  for (const { keyword, args } of stage.instructions) {
    if (keyword === 'ENV') Object.assign(state.env, parseEnv(args, state.env));
    else if (keyword === 'WORKDIR') state.workdir = resolvePosix(state.workdir, expand(args, state.env));
    else if (keyword === 'USER') state.user = expand(args, state.env);
    else if (keyword === 'VOLUME') state.volumes.push(...listOf(expand(args, state.env)));
    else if (keyword === 'EXPOSE') state.expose.push(...words(expand(args, state.env)));
    else if (keyword === 'CMD') state.cmd = commandOf(args);
    else if (keyword === 'HEALTHCHECK') state.healthcheck = parseHealthcheck(args);
    else if (keyword === 'STOPSIGNAL') state.stopsignal = args;
  }
  return state;
}

/** A container path against the current WORKDIR (posix, whatever the host). */
export function resolvePosix(base: string, path: string): string {
  const parts = (path.startsWith('/') ? path : `${base}/${path}`).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/**
 * .dockerignore as a predicate over context-relative paths (`a/b/c`): patterns are anchored at the
 * context root, `*` and `?` stay within one path segment, `**` spans any, `!` re-includes; a path is
 * excluded when the last pattern matching it or one of its parent directories is not a `!` one.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = resolvePosix('/', negate ? l.slice(1).trim() : l).slice(1);
      const globstar = '<globstar>';
      const source = pattern
        .split('/')
        .map((seg) => (seg === '**' ? globstar : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replaceAll(`${globstar}/`, '(?:.*/)?')
        .replaceAll(`/${globstar}`, '(?:/.*)?')
        .replaceAll(globstar, '.*');
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  return (path: string) => {
    const segments = resolvePosix('/', path).slice(1).split('/');
    let excluded = false;
    for (const { negate, regex } of rules) {
      for (let i = 1; i <= segments.length; i++) {
        if (regex.test(segments.slice(0, i).join('/'))) {
          excluded = !negate;
          break;
        }
      }
    }
    return excluded;
  };
}
