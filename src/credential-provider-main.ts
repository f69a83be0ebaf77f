// Entry of the single executable that nodes install (hack/build-credential-provider.ts): exactly
// `kube-regcred credential-provider`, without the other subcommands' code, because the kubelet starts
// it once per uncached image pull and every kilobyte of script is parsed at each start.
import { runCredentialProvider } from './cmd/credential-provider.ts';

// An optional leading "credential-provider" keeps the provider config's args the same for this file
// and for `kube-regcred credential-provider`.
const args = process.argv.slice(2);
runCredentialProvider(args[0] === 'credential-provider' ? args.slice(1) : args, process.env).then((code) => {
  process.exitCode = code;
});
