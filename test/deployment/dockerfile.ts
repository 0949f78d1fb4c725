/**
 * Reads deployment/docker/Dockerfile so tests use what the image really does instead of
 * repeating it: the entrypoint argv, the runtime stage's environment, what it copies,
 * its healthcheck. A test that starts the gateway "as the image would" imports these.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DOCKERFILE_PATH = fileURLToPath(new URL('../../deployment/docker/Dockerfile', import.meta.url));

export interface DockerInstruction {
  readonly keyword: string;
  /** Arguments without flags, continuation lines joined. */
  readonly args: string;
  /** Flags such as `--from=deps` → { from: 'deps' }. */
  readonly flags: Readonly<Record<string, string | null>>;
  readonly line: number;
}

export interface DockerStage {
  readonly image: string;
  readonly name: string | null;
  readonly instructions: readonly DockerInstruction[];
}

export function readDockerfile(path = DOCKERFILE_PATH): string {
  return readFileSync(path, 'utf8');
}

function flagsOf(i: Instruction): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const withFlags = i as Instruction & {
    getFlags?: () => { getName(): string; getValue(): string | null }[];
  };
  for (const f of withFlags.getFlags?.() ?? []) out[f.getName()] = f.getValue();
  return out;
}

/** Stages in order; instructions before the first FROM (global ARGs) are dropped. */
export function parseStages(content = readDockerfile()): DockerStage[] {
  const stages: { image: string; name: string | null; instructions: DockerInstruction[] }[] = [];
  for (const i of DockerfileParser.parse(content).getInstructions()) {
    const keyword = i.getKeyword().toUpperCase();
    const ins: DockerInstruction = {
      keyword,
      args: (i.getArgumentsContent() ?? '').replace(/\s+/g, ' ').trim(),
      flags: flagsOf(i),
      line: i.getRange().start.line + 1,
    };
    if (keyword === 'FROM') {
      const [image = '', as, name] = ins.args.split(' ');
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, instructions: [ins] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

/** The stage the image is built from (the last one). */
export function runtimeStage(content = readDockerfile()): DockerStage {
  const last = parseStages(content).at(-1);
  if (!last) throw new Error('Dockerfile has no FROM');
  return last;
}

function lastOf(stage: DockerStage, keyword: string): DockerInstruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

/** Exec-form JSON array, or a shell-form string wrapped like Docker does. */
function execForm(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new Error(`not a JSON string array: ${args}`);
    }
    return parsed;
  }
  return ['/bin/sh', '-c', args];
}

/** argv the container runs: ENTRYPOINT followed by CMD, as Docker combines them. */
export function imageEntrypoint(content = readDockerfile()): string[] {
  const stage = runtimeStage(content);
  const entry = lastOf(stage, 'ENTRYPOINT');
  const cmd = lastOf(stage, 'CMD');
  return [...(entry ? execForm(entry.args) : []), ...(cmd ? execForm(cmd.args) : [])];
}

/** ENV of the runtime stage (later instructions win). */
export function imageEnv(content = readDockerfile()): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of runtimeStage(content).instructions.filter((x) => x.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) {
      env[m[1] as string] = m[3] ?? m[2] ?? '';
    }
  }
  return env;
}

/** The working directory the entrypoint runs in. */
export function imageWorkdir(content = readDockerfile()): string {
  return lastOf(runtimeStage(content), 'WORKDIR')?.args ?? '/';
}

/**
 * What the runtime stage copies from the build context (not from other stages):
 * [source paths relative to the repo root, destination relative to WORKDIR].
 * A production-layout test copies exactly these, then runs `npm ci --omit=dev`.
 */
export function imageContextCopies(content = readDockerfile()): { sources: string[]; dest: string }[] {
  return runtimeStage(content)
    .instructions.filter((i) => i.keyword === 'COPY' && i.flags['from'] === undefined)
    .map((i) => {
      const parts = execForm(i.args.startsWith('[') ? i.args : JSON.stringify(i.args.split(' ')));
      return { sources: parts.slice(0, -1), dest: parts.at(-1) ?? '' };
    });
}

/** The HEALTHCHECK command (exec form) and its flags. */
export function imageHealthcheck(content = readDockerfile()): {
  argv: string[];
  flags: Record<string, string | null>;
} {
  const hc = lastOf(runtimeStage(content), 'HEALTHCHECK');
  if (!hc) throw new Error('no HEALTHCHECK in the runtime stage');
  const m = /^CMD\s+(.*)$/i.exec(hc.args);
  if (!m?.[1]) throw new Error(`HEALTHCHECK without CMD: ${hc.args}`);
  return { argv: execForm(m[1]), flags: { ...hc.flags } };
}

/** USER of the runtime stage, as written (e.g. "1000:1000"). */
export function imageUser(content = readDockerfile()): string | undefined {
  return lastOf(runtimeStage(content), 'USER')?.args;
}
