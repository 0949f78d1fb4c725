/**
 * External tools the deployment tests drive (kubectl for kustomize, promtool), found on
 * PATH. Tests skip with a message naming the tool when it is missing; CI installs both.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export function findTool(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export const KUBECTL = findTool('kubectl');
export const PROMTOOL = findTool('promtool');
export const skipWithoutKubectl = KUBECTL
  ? false
  : 'kubectl not installed (needed for `kubectl kustomize`; CI installs it)';
export const skipWithoutPromtool = PROMTOOL
  ? false
  : 'promtool not installed (Debian package prometheus; CI installs it via .ci/install-system-deps)';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool, never throwing on a non-zero exit (the caller asserts on the code). */
export async function runTool(file: string, args: string[], cwd?: string): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, maxBuffer: 32 * 1024 * 1024, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : 1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? String(e),
    };
  }
}

/** YAML 1.1 like the Kubernetes tooling (sigs.k8s.io/yaml); empty documents dropped. */
export function parseManifests(text: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (const d of parseAllDocuments(text, { version: '1.1' })) {
    if (d.errors.length > 0) throw new Error(d.errors.map((e) => e.message).join('; '));
    const js: unknown = d.toJS();
    if (js !== null && js !== undefined) docs.push(js as Record<string, unknown>);
  }
  return docs;
}

/** `kubectl kustomize <dir>` as parsed documents. */
export async function renderKustomize(dir: string): Promise<Record<string, unknown>[]> {
  if (!KUBECTL) throw new Error('kubectl missing');
  const r = await runTool(KUBECTL, ['kustomize', dir]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}
