/**
 * The SMTP dialogue of one worker, as smtp-server hooks: admission at connect,
 * AUTH, MAIL FROM, RCPT TO, DATA and close. Policy only; the Cakemail side sits
 * behind the Authenticator / MailPipeline seams (contracts.ts) and pod-wide state
 * behind the PrimaryLink.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type {
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerDataStream,
  SMTPServerSession,
  SMTPServerAddress,
} from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import {
  smtpActiveConnections,
  smtpAdmissionDuration,
  smtpAuthAttemptsTotal,
  smtpAuthFailuresTotal,
  smtpConnectionDuration,
  smtpConnectionsTotal,
  smtpDataAddedLatency,
  smtpDataDuration,
  smtpEmailsReceivedTotal,
  smtpMessageSize,
  smtpTlsHandshakesTotal,
} from '../metrics/worker-metrics.ts';
import type { AdmissionVerdict } from '../ipc/messages.ts';
import { NotifyBatch } from '../ipc/notify-batch.ts';
import type {
  AuthenticatedAccount,
  Authenticator,
  MailPipeline,
  SenderVerdict,
  SessionContext,
} from './contracts.ts';
import { EarlyAdmission } from './early-admission.ts';
import type { LocalLockouts } from './local-lockouts.ts';
import type { PrimaryLink } from './primary-link.ts';
import { asReply, countReply, refuse } from './counted-replies.ts';
import { unsupportedMailParameter, unsupportedRcptParameter } from './envelope-params.ts';
import { SmtpReplyError, replyText, type ReplyKey } from './replies.ts';

interface SessionState extends SessionContext {
  readonly startedAt: bigint;
  /** The primary counted it (false: admitted fail-open, nothing to give back). */
  readonly counted: boolean;
  sender?: SenderVerdict;
  authenticated?: boolean;
}

type Callback = (err?: Error | null) => void;

const REFUSALS: Record<Exclude<AdmissionVerdict, 'ok'>, ReplyKey> = {
  pod_limit: 'tooManyConnectionsPod',
  ip_limit: 'tooManyConnectionsIp',
  locked_out: 'ipLockedOut',
  draining: 'shuttingDown',
};

export interface HookDeps {
  config: Config;
  link: PrimaryLink;
  authenticator: Authenticator;
  pipeline: MailPipeline;
  log: Logger;
  /** The pod's lockouts held in this worker (memory store); absent: ask the primary (Redis). */
  lockouts?: LocalLockouts;
}

/** How long a closed connection may wait to be given back to the primary (see `releases`). */
const RELEASE_BATCH_MS = 10;

const elapsed = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;

export function createSessionHooks(deps: HookDeps) {
  const { config, link, authenticator, pipeline, log } = deps;
  const sessions = new Map<string, SessionState>();
  /** Sessions smtp-server closed before their admission was answered (weak: nothing to clean up). */
  const closedBeforeAdmission = new WeakSet<SMTPServerSession>();
  /**
   * Gives a connection the primary counted back to it, in batches of RELEASE_BATCH_MS:
   * under churn (bench (b)) a notification per close was an IPC write and a wake-up of
   * the primary per connection. The delay only makes the pod's count too high for a few
   * ms, never too low; a client refused at accept for it is asked again once smtp-server's
   * 100 ms early-talker wait ends (early-admission.ts). A dead worker's connections are
   * all given back by the primary.
   */
  const releases = new NotifyBatch<string>(
    (ips) => link.notify({ type: 'connection.closed', ips }),
    RELEASE_BATCH_MS,
  );
  const release = (ip: string) => releases.add(ip);
  const admissions = new EarlyAdmission({
    ask: (ip) =>
      link
        .request(
          'connection.open',
          { ip },
          {
            // Answered after the timeout below failed open (counted: false, so neither the
            // session nor early-admission gives it back): an `ok` the primary counted is
            // given back here, its one and only release.
            onLateAnswer: ({ verdict }) => {
              log.info({ event: 'smtp.admission_late', verdict }, 'admission answered after its timeout');
              if (verdict === 'ok') release(ip);
            },
          },
        )
        .then(
          ({ verdict }) => ({ verdict, counted: true }),
          (err: Error) => {
            // The primary did not answer in time: fail open rather than refuse mail.
            log.warn(
              { event: 'smtp.admission_timeout', err: err.message },
              'admission not answered; accepting',
            );
            return { verdict: 'ok' as const, counted: false };
          },
        ),
    release,
  });

  const state = (session: SMTPServerSession): SessionState | undefined => sessions.get(session.id);

  return {
    /** For the SMTP net.Server's 'connection' event: admission starts at accept (early-admission.ts). */
    onSocket(socket: Socket): void {
      admissions.onSocket(socket);
    },

    onConnect(session: SMTPServerSession, callback: Callback): void {
      const started = process.hrtime.bigint();
      const ip = session.remoteAddress;
      void admissions.take(ip, session.remotePort).then(({ verdict, counted }) => {
        smtpAdmissionDuration.observe(elapsed(started));
        smtpConnectionsTotal.inc({ status: verdict === 'ok' ? 'accepted' : verdict });
        if (verdict !== 'ok') {
          log.info({ event: 'smtp.refused', session: session.id, verdict }, 'connection refused');
          return callback(refuse(REFUSALS[verdict]));
        }
        if (closedBeforeAdmission.has(session)) {
          // Gone while the primary answered: onClose found nothing to close, so give it back here.
          if (counted) release(ip);
          return callback();
        }
        const sessionLog = log.child({ session: session.id });
        sessions.set(session.id, {
          sessionId: session.id,
          remoteAddress: ip,
          log: sessionLog,
          startedAt: started,
          counted,
        });
        if (!counted) sessionLog.debug('admitted without pod accounting');
        smtpActiveConnections.inc();
        sessionLog.info({ event: 'smtp.connect', remoteAddress: ip }, 'connection');
        callback();
      });
    },

    onSecure(socket: TLSSocket, session: SMTPServerSession, callback: Callback): void {
      // Resumed: the client presented a session ticket, no certificate signature was made.
      const resumed = socket.isSessionReused();
      smtpTlsHandshakesTotal.inc({ status: 'ok', resumed: String(resumed) });
      state(session)?.log.info(
        { event: 'smtp.tls', servername: session.servername, resumed },
        'STARTTLS done',
      );
      callback();
    },

    onAuth(
      auth: SMTPServerAuthentication,
      session: SMTPServerSession,
      callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
    ): void {
      const s = state(session);
      const started = process.hrtime.bigint();
      const fail = (reason: string, err: SmtpReplyError) => {
        smtpAuthAttemptsTotal.inc({ outcome: 'failure' });
        smtpAuthFailuresTotal.inc({ reason });
        // Only the username and the outcome: never the password or the SASL payload.
        s?.log.info(
          {
            event: 'smtp.auth',
            outcome: 'failure',
            reason,
            method: auth.method,
            username: auth.username,
            ms: Math.round(elapsed(started) * 1000),
          },
          'AUTH refused',
        );
        callback(err);
      };
      if (!session.secure) return fail('tls_required', refuse('tlsRequired'));
      if (!auth.username || auth.password === undefined) return fail('malformed', refuse('authInvalid'));
      // RFC 4616 2: an authzid other than the username (its case aside: clients that repeat it
      // may not keep it) asks to act as someone else; refused, not ignored.
      if (auth.authzid && auth.authcid && auth.authzid.toLowerCase() !== auth.authcid.toLowerCase())
        return fail('authzid', refuse('authzidRefused'));
      const ctx = s ?? { sessionId: session.id, remoteAddress: session.remoteAddress, log };
      const ip = session.remoteAddress;
      const lockout = deps.lockouts
        ? Promise.resolve({ lockedOut: deps.lockouts.isLockedOut(ip) })
        : link.request('lockout.check', { ip }).catch(() => ({ lockedOut: false }));
      lockout.then(async ({ lockedOut }) => {
        if (lockedOut) return fail('locked_out', refuse('ipLockedOut'));
        try {
          const account = await authenticator.authenticate(auth.username!, auth.password!, ctx);
          smtpAuthAttemptsTotal.inc({ outcome: 'success' });
          s?.log.info(
            {
              event: 'smtp.auth',
              outcome: 'success',
              method: auth.method,
              username: auth.username,
              ms: Math.round(elapsed(started) * 1000),
            },
            'AUTH accepted',
          );
          if (s) s.authenticated = true;
          callback(null, { user: account });
        } catch (err) {
          const reply = err instanceof SmtpReplyError ? err : new SmtpReplyError('authUnavailable');
          countReply(reply.key);
          const reason =
            reply.key === 'authInvalid' ? 'invalid' : reply.key === 'authMfa' ? 'mfa' : 'unavailable';
          if (reason !== 'unavailable') {
            // Wrong credentials count towards the IP's lockout, pod-wide.
            await link.request('auth.failed', { ip }).catch(() => undefined);
          }
          if (!(err instanceof SmtpReplyError))
            s?.log.error({ event: 'smtp.auth_error', err: (err as Error).message }, 'authenticator failed');
          fail(reason, reply);
        }
      });
    },

    onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback): void {
      const s = state(session);
      const account = session.user as AuthenticatedAccount | undefined;
      if (!account || !s) return callback(refuse('authRequired'));
      const param = unsupportedMailParameter(address);
      if (param) return callback(refuse('parameterUnsupported', { command: 'MAIL FROM', param }));
      // No limit configured: no round trip through the primary for every message.
      const budget =
        config.RATE_LIMIT_PER_IP === 0
          ? Promise.resolve({ allowed: true })
          : link.request('rate.consume', { ip: session.remoteAddress }).catch(() => ({ allowed: true }));
      budget.then(async ({ allowed }) => {
        if (!allowed) {
          s.log.info({ event: 'smtp.mail', outcome: 'rate_limited' }, 'MAIL FROM over the rate limit');
          return callback(refuse('rateLimited'));
        }
        try {
          s.sender = await pipeline.checkSender(account, address.address, s);
          s.log.info(
            {
              event: 'smtp.mail',
              outcome: 'ok',
              from: address.address,
              confirmedSender: s.sender.senderId !== undefined,
            },
            'MAIL FROM',
          );
          callback();
        } catch (err) {
          callback(asReply(err, s.log));
        }
      });
    },

    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback): void {
      const param = unsupportedRcptParameter(address);
      if (param) return callback(refuse('parameterUnsupported', { command: 'RCPT TO', param }));
      if (session.envelope.rcptTo.length >= config.MAX_RECIPIENTS) {
        state(session)?.log.info({ event: 'smtp.rcpt', outcome: 'too_many' }, 'RCPT over MAX_RECIPIENTS');
        return callback(refuse('tooManyRecipients'));
      }
      state(session)?.log.debug({ event: 'smtp.rcpt', to: address.address }, 'RCPT TO');
      callback();
    },

    onData(
      stream: SMTPServerDataStream,
      session: SMTPServerSession,
      callback: (err?: Error | null, message?: string) => void,
    ): void {
      const s = state(session);
      const account = session.user as AuthenticatedAccount | undefined;
      const chunks: Buffer[] = [];
      let bytes = 0;
      // Keep at most MESSAGE_SIZE_LIMIT bytes; past it, keep draining (the client is
      // still sending) and answer 552 once the terminating dot arrives.
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= config.MESSAGE_SIZE_LIMIT) chunks.push(chunk);
      });
      stream.once('error', (err: Error & { code?: string }) => {
        // The client went away mid-message (smtp-server destroys the stream with
        // ECONNECTION): nothing was accepted and nobody is left to answer; not our error.
        if (err.code === 'ECONNECTION') {
          (s?.log ?? log).info({ event: 'smtp.data_aborted', bytes }, 'client left during DATA');
          return callback(new SmtpReplyError('localError'));
        }
        callback(asReply(err, s?.log ?? log));
      });
      stream.once('end', () => {
        const started = process.hrtime.bigint();
        smtpMessageSize.observe(bytes);
        const timing = { upstreamSeconds: 0 };
        const finish = (err: Error | null, message?: string) => {
          const reply = err as SmtpReplyError | null;
          const status = !reply ? 'accepted' : reply.responseCode >= 500 ? 'rejected' : 'deferred';
          smtpEmailsReceivedTotal.inc({ status });
          const seconds = elapsed(started);
          smtpDataDuration.observe(seconds);
          smtpDataAddedLatency.observe(Math.max(0, seconds - timing.upstreamSeconds));
          s?.log.info(
            {
              event: 'smtp.data',
              outcome: status,
              bytes,
              recipients: session.envelope.rcptTo.length,
              reply: reply ? reply.message : message,
              ms: Math.round(elapsed(started) * 1000),
            },
            'DATA',
          );
          callback(err, message);
        };
        if (stream.sizeExceeded || bytes > config.MESSAGE_SIZE_LIMIT)
          return finish(refuse('messageTooBig', { size: config.MESSAGE_SIZE_LIMIT }));
        if (!account || !s?.sender) return finish(refuse('authRequired'));
        pipeline
          .deliver(
            {
              account,
              mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              rcptTo: session.envelope.rcptTo.map((r) => r.address),
              sender: s.sender,
              // Usually the whole message is one chunk (one TLS record): no copy then.
              raw: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes),
            },
            s,
            timing,
          )
          .then(
            (receipt) => {
              const key: ReplyKey = receipt.skippedDuplicates > 0 ? 'alreadyAccepted' : 'queued';
              countReply(key);
              finish(null, replyText(key, { id: receipt.queueId, skipped: receipt.skippedDuplicates }));
            },
            (err: unknown) => finish(asReply(err, s.log)),
          );
      });
    },

    onClose(session: SMTPServerSession): void {
      const s = sessions.get(session.id);
      if (!s) {
        // Refused at connect (never counted), or closed before the admission answer came.
        closedBeforeAdmission.add(session);
        return;
      }
      sessions.delete(session.id);
      smtpActiveConnections.dec();
      const seconds = elapsed(s.startedAt);
      smtpConnectionDuration.observe(seconds);
      if (s.counted) release(s.remoteAddress);
      s.log.info({ event: 'smtp.close', seconds: Math.round(seconds * 1000) / 1000 }, 'connection closed');
    },

    activeSessions: () => sessions.size,

    /** Sends the queued `connection.closed` batch now (a draining worker, tests). */
    flushReleases: () => releases.flush(),

    /**
     * Sessions still unauthenticated after `seconds`: a client trickling bytes resets the
     * idle timeout forever, so time since connect is what bounds it (slowloris).
     */
    unauthenticatedFor(seconds: number): string[] {
      const limit = process.hrtime.bigint() - BigInt(seconds) * 1_000_000_000n;
      const stale: string[] = [];
      for (const [id, s] of sessions) if (!s.authenticated && s.startedAt < limit) stale.push(id);
      return stale;
    },
  };
}
