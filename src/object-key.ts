// The work-queue key of a namespaced object, `namespace/name`: the one way keys are built and read back.

export function objectKey(object: { namespace: string; name: string }): string {
  return `${object.namespace}/${object.name}`;
}

/** The inverse of objectKey: namespaces cannot contain `/`, so the first one separates. */
export function splitObjectKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
