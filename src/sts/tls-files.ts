// The optional HTTPS listener's certificate and key: read as a pair, checked to belong together, and
// re-read on a timer so a renewed Secret (cert-manager, kubelet's symlink swap) is served without a
// restart. A bad new pair is reported and the previous one keeps serving.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RegcredError } from '../errors.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: string;
  key: string;
}

/** Reads and checks a certificate chain (leaf first) and its private key. Throws RegcredError ConfigInvalid. */
export async function readTlsPair(files: TlsFiles): Promise<TlsPair> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  } catch (err) {
    throw new RegcredError('ConfigInvalid', `TLS: cannot read ${files.certFile} / ${files.keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new RegcredError('ConfigInvalid', `TLS: ${files.certFile} is not a PEM certificate`);
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch {
    throw new RegcredError('ConfigInvalid', `TLS: ${files.keyFile} is not a PEM private key`);
  }
  if (!matches) throw new RegcredError('ConfigInvalid', `TLS: the key in ${files.keyFile} is not the certificate's`);
  return { cert, key };
}

export interface TlsWatchOptions {
  files: TlsFiles;
  current: TlsPair;
  /** How often the files are compared with what is served. */
  pollMs: number;
  onChange: (pair: TlsPair) => void;
  onError: (error: RegcredError) => void;
}

/** Polls the pair; calls onChange with a new valid pair, onError (once per bad content) otherwise. Returns stop(). */
export function watchTlsFiles(options: TlsWatchOptions): () => void {
  let served = options.current;
  let lastBad = '';
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readTlsPair(options.files)
      .then((pair) => {
        if (pair.cert === served.cert && pair.key === served.key) return;
        served = pair;
        lastBad = '';
        options.onChange(pair);
      })
      .catch((err: unknown) => {
        const error = err as RegcredError;
        // A half-written renewal is seen again on the next tick; report each distinct problem once.
        if (error.message !== lastBad) options.onError(error);
        lastBad = error.message;
      })
      .finally(() => {
        busy = false;
      });
  }, options.pollMs);
  timer.unref();
  return () => clearInterval(timer);
}
