// Secret-named fields never reach a log line, however they are nested (to the depth the walk covers),
// on a line's own fields, in a child logger's bindings and inside a logged error; nothing the caller
// passed is modified, and a line with nothing to censor is written as it was given.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.ts';
import { LOG_CENSOR, redactLogFields } from '../../src/log-redaction.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ destination, base: { component: 'test' } }), lines, raw };
}

const SECRET = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln';

describe('log redaction', () => {
  it('censors secret-named fields at the top, one object down and two down', () => {
    const { logger, lines, raw } = capture();
    logger.info(
      { token: SECRET, password: SECRET, auth: SECRET, authorization: `Bearer ${SECRET}`, sts: { token: SECRET, url: 'http://127.0.0.1' }, req: { headers: { authorization: `Bearer ${SECRET}`, accept: '*/*' } } },
      'exchanged',
    );
    assert.equal(raw.length, 1);
    assert.ok(!raw[0]!.includes(SECRET), raw[0]);
    const line = lines[0]!;
    for (const key of ['token', 'password', 'auth', 'authorization']) assert.equal(line[key], LOG_CENSOR, key);
    assert.deepEqual(line.sts, { token: LOG_CENSOR, url: 'http://127.0.0.1' });
    assert.deepEqual(line.req, { headers: { authorization: LOG_CENSOR, accept: '*/*' } });
    assert.equal(line.msg, 'exchanged');
  });

  it('censors a child logger binding and an error property, keeping the error serialized as an error', () => {
    const { logger, lines, raw } = capture();
    const err = Object.assign(new TypeError('exchange refused'), { code: 'StsRejected', token: SECRET });
    logger.child({ identity: 'abc', auth: SECRET }).error({ err }, 'failed');
    assert.ok(!raw[0]!.includes(SECRET), raw[0]);
    const line = lines[0]!;
    assert.equal(line.auth, LOG_CENSOR);
    assert.equal(line.identity, 'abc');
    const logged = line.err as Record<string, unknown>;
    assert.equal(logged.type, 'TypeError');
    assert.equal(logged.message, 'exchange refused');
    assert.equal(logged.code, 'StsRejected');
    assert.equal(logged.token, LOG_CENSOR);
    assert.match(String(logged.stack), /TypeError: exchange refused/);
    assert.equal(err.token, SECRET, 'the caller\'s error is not modified');
  });

  it('modifies nothing it is given and returns a clean object itself', () => {
    const nested = { headers: { authorization: SECRET } };
    const fields = { secret: 'ns/pull-secret', req: nested };
    const out = redactLogFields(fields);
    assert.notEqual(out, fields);
    assert.equal(nested.headers.authorization, SECRET);
    assert.deepEqual(out, { secret: 'ns/pull-secret', req: { headers: { authorization: LOG_CENSOR } } });
    const clean = { secret: 'ns/pull-secret', reason: 'missing', expiresAt: '2026-12-04T05:36:35.000Z', sizes: [1, 2] };
    assert.equal(redactLogFields(clean), clean);
  });


  it('leaves an undefined secret field undefined, so pino omits it', () => {
    const { logger, lines } = capture();
    logger.info({ token: undefined, registry: 'r.example' }, 'no token yet');
    assert.equal('token' in lines[0]!, false);
    assert.equal(lines[0]!.registry, 'r.example');
  });
});
