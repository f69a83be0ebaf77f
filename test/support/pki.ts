// Throwaway X.509 material for the test bed, made with the openssl CLI (Node cannot issue certificates).
// Generated per run in a temporary directory: no key is ever committed.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface KeyPairFiles {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairFiles {
  dir: string;
}

export interface CertificateRequest {
  commonName: string;
  /** Subject alternative names: IP addresses and DNS names. */
  sans?: readonly string[];
  keyType?: 'rsa' | 'ec';
  /** Subject organizations: Kubernetes reads them as groups (a node's is `system:nodes`). */
  organizations?: readonly string[];
  /** File name stem; default derived from the common name. */
  fileStem?: string;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function keyArgs(keyType: 'rsa' | 'ec'): string[] {
  return keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

function read(certFile: string, keyFile: string): KeyPairFiles {
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

export function createCertificateAuthority(dir: string, commonName = 'kube-regcred test CA'): CertificateAuthority {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  openssl([
    'req', '-x509', '-nodes', ...keyArgs('ec'), '-days', '2',
    '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-keyout', keyFile, '-out', certFile,
  ]);
  return { dir, ...read(certFile, keyFile) };
}

export function issueCertificate(ca: CertificateAuthority, request: CertificateRequest): KeyPairFiles {
  const stem = request.fileStem ?? request.commonName.replace(/[^A-Za-z0-9_.-]/g, '_');
  const keyFile = join(ca.dir, `${stem}.key`);
  const csrFile = join(ca.dir, `${stem}.csr`);
  const certFile = join(ca.dir, `${stem}.crt`);
  const extFile = join(ca.dir, `${stem}.ext`);
  openssl(['req', '-new', '-nodes', ...keyArgs(request.keyType ?? 'ec'), '-subj', `${(request.organizations ?? []).map((o) => `/O=${o}`).join('')}/CN=${request.commonName}`, '-keyout', keyFile, '-out', csrFile]);
  const sans = (request.sans ?? []).map((san) => (/^[\d.]+$|:/.test(san) ? `IP:${san}` : `DNS:${san}`));
  writeFileSync(
    extFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`, 'extendedKeyUsage=serverAuth,clientAuth'] : []),
    ].join('\n') + '\n',
  );
  openssl([
    'x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-days', '2', '-extfile', extFile, '-out', certFile,
  ]);
  return read(certFile, keyFile);
}
