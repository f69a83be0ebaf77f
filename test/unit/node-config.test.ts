// The test node's configuration must keep it off the host: every path it names is below its own
// directory, and the kubelet settings that would touch host iptables or sysctls stay off.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerdConfig, kubeletConfiguration, nodeLayout, registryHostsToml } from '../support/node-config.ts';

const node = nodeLayout('bed-node-abc123', '/tmp/kube-regcred-node-XyZ', { kubelet: 41001, healthz: 41002 });

function absolutePaths(text: string): string[] {
  return [...text.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]!);
}

describe('test node configuration', () => {
  it('containerd: root, state, sockets, runc root, CNI and certs.d all live in the node directory', () => {
    const config = containerdConfig(node);
    const paths = absolutePaths(config);
    assert.ok(paths.length >= 9, `found ${paths.join(', ')}`);
    for (const path of paths) assert.ok(path.startsWith(`${node.dir}/`), `${path} is outside the node directory`);
    assert.match(config, /restrict_oom_score_adj = true/);
    assert.match(config, /SystemdCgroup = false/);
    assert.match(config, new RegExp(`sandbox_image = "${node.sandboxImage}"`));
  });

  it('kubelet: own cgroup root, loopback only, no iptables chains, never writes host sysctls', () => {
    const config = kubeletConfiguration(node, '/tmp/ca.crt');
    assert.equal(config.cgroupRoot, '/bed-node-abc123');
    assert.equal(config.address, '127.0.0.1');
    assert.equal(config.healthzBindAddress, '127.0.0.1');
    assert.equal(config.readOnlyPort, 0);
    assert.equal(config.makeIPTablesUtilChains, false);
    assert.equal(config.protectKernelDefaults, true);
    assert.equal(config.containerRuntimeEndpoint, `unix://${node.dir}/containerd.sock`);
    assert.ok(String(config.podLogsDir).startsWith(`${node.dir}/`));
  });

  it('kubelet: a test\'s extra settings are merged over the defaults', () => {
    const config = kubeletConfiguration(node, '/tmp/ca.crt', { featureGates: { KubeletEnsureSecretPulledImages: true } });
    assert.deepEqual(config.featureGates, { KubeletEnsureSecretPulledImages: true });
    assert.equal(config.makeIPTablesUtilChains, false);
  });

  it('a loopback registry is reached over plain HTTP, for pull and resolve only', () => {
    const hosts = registryHostsToml('127.0.0.1:5000');
    assert.match(hosts, /^server = "http:\/\/127\.0\.0\.1:5000"$/m);
    assert.match(hosts, /\[host\."http:\/\/127\.0\.0\.1:5000"\]\n\s+capabilities = \["pull", "resolve"\]/);
  });
});
