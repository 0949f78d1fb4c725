// Entry of an SMTP worker process, forked by the primary (src/primary/supervisor.ts).
import { runWorker } from '../src/smtp/worker-main.ts';

runWorker();
