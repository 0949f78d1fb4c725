import { messageTemplate } from '../bench/messages.ts';
import { convertMessage } from '../src/mail/convert.ts';
const tpl = messageTemplate({ bytes: 5120, pdf: false, from: 'demo@cakemail.test', to: ['rcpt1@example.com'] }, 'x');
const raws = Array.from({ length: 100 }, (_, i) => Buffer.concat([tpl.head(i), tpl.body]));
const opts = { defaultType: 'transactional', maxDepth: 10, maxParts: 100, maxHeaderBytes: 65536, hostname: 'gw.local' } as any;
const t = process.hrtime.bigint();
const N = 300000;
for (let i = 0; i < N; i++) await convertMessage(raws[i % 100]!, opts);
console.log((Number(process.hrtime.bigint() - t) / N / 1000).toFixed(2), 'µs');
