/**
 * Entry of a load-generator process (forked by bench/run.ts, so the load never runs on
 * the orchestrator's event loop). Jobs arrive over IPC, one at a time:
 *   {type:'run', spec}            → {type:'result', result}
 *   {type:'hold', spec}           → {type:'held', result}
 *   {type:'probe', target, durationMs, everyMs} → {type:'probed', bannerMs}
 *   {type:'release'}              → {type:'released', stillOpen}
 *   {type:'exit'}                 → exits
 */
import { Holder, runLoad, type HoldSpec, type RunSpec, type Target } from './load-generator.ts';

export type GeneratorRequest =
  | { type: 'run'; spec: RunSpec }
  | { type: 'hold'; spec: HoldSpec }
  | { type: 'probe'; target: Target; durationMs: number; everyMs: number }
  | { type: 'release' }
  | { type: 'exit' };

if (!process.send) throw new Error('bench/generator-main.ts is started by bench/run.ts (child_process.fork)');

const holder = new Holder();
const reply = (m: unknown) => process.send?.(m);

process.on('message', (m: GeneratorRequest) => {
  const fail = (err: unknown) => reply({ type: 'error', error: String((err as Error)?.stack ?? err) });
  switch (m.type) {
    case 'run':
      runLoad(m.spec).then((result) => reply({ type: 'result', result }), fail);
      return;
    case 'hold':
      holder.hold(m.spec).then((result) => reply({ type: 'held', result }), fail);
      return;
    case 'probe':
      holder
        .probe(m.target, m.durationMs, m.everyMs)
        .then((bannerMs) => reply({ type: 'probed', bannerMs }), fail);
      return;
    case 'release': {
      const stillOpen = holder.stillOpen();
      holder.release();
      reply({ type: 'released', stillOpen });
      return;
    }
    case 'exit':
      holder.release();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'up' });
