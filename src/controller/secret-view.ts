// Gathering for decide(): the informer's frozen Secret turned into the plain SecretView it reads, with
// the Docker config decoded from base64 (or the reason it cannot be read at all), or in the compact
// form the cache keeps of a document that is only our own entry.
import { configKeyOf, decodeDockerConfig, dockerConfigTooLarge } from '../dockerconfig.ts';
import { toRegcredError, type RegcredError } from '../errors.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { SecretView } from './decide.ts';

export function toSecretView(secret: SecretObject, namespaceLabels?: Readonly<Record<string, string>>): SecretView {
  const raw = secret.data[configKeyOf(secret)];
  let dockerConfigJson: string | undefined;
  let rejected: RegcredError | undefined;
  if (secret.droppedDataBytes !== undefined) rejected = dockerConfigTooLarge(secret.droppedDataBytes);
  else if (raw !== undefined) {
    try {
      dockerConfigJson = decodeDockerConfig(raw);
    } catch (err) {
      rejected = toRegcredError(err);
    }
  }
  const view: SecretView = {
    namespace: secret.namespace,
    name: secret.name,
    type: secret.type ?? '',
    annotations: { ...secret.annotations },
    dockerConfigJson,
  };
  if (rejected !== undefined) view.dockerConfigRejected = rejected;
  if (secret.compactConfig !== undefined) view.compactConfig = secret.compactConfig;
  if (secret.resourceVersion !== undefined) view.resourceVersion = secret.resourceVersion;
  if (namespaceLabels !== undefined) view.namespaceLabels = namespaceLabels;
  return view;
}
