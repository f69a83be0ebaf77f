// The CLI: `kube-regcred <subcommand> [flags]`. The only place that touches process.argv and
// process.env; each subcommand's entry in src/cmd/ builds and wires everything from them.
const USAGE = `Usage: kube-regcred <subcommand> [flags]

Subcommands:
  controller   keep annotated image pull secrets filled with short-lived registry tokens
  sts          token service for self-hosted registries: OIDC identities in, registry tokens out
  credential-provider
               kubelet image credential provider (KEP-4412): the Pod's ServiceAccount token in,
               registry credentials out (run by the kubelet, not by hand)
  proxy        token auth in front of a registry that has none: verifies the sts's tokens, forwards what they allow

Run "kube-regcred <subcommand> --help" for its flags.
`;

const [subcommand, ...args] = process.argv.slice(2);

async function run(): Promise<number> {
  switch (subcommand) {
    case 'controller': {
      const { runController } = await import('./cmd/controller.ts');
      return runController(args, process.env);
    }
    case 'sts': {
      const { runSts } = await import('./cmd/sts.ts');
      return runSts(args, process.env);
    }
    case 'credential-provider': {
      const { runCredentialProvider } = await import('./cmd/credential-provider.ts');
      return runCredentialProvider(args, process.env);
    }
    case 'proxy': {
      const { runProxy } = await import('./cmd/proxy.ts');
      return runProxy(args, process.env);
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return subcommand === undefined ? 2 : 0;
    default:
      process.stderr.write(`kube-regcred: unknown subcommand "${subcommand}"\n\n${USAGE}`);
      return 2;
  }
}

// No top-level await: the credential provider ships as a CommonJS bundle (Node single executable).
run().then((code) => {
  process.exitCode = code;
});
