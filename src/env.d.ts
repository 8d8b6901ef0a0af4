// Lets `env` and `exports` from "cloudflare:workers" know this worker's bindings and entry module.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import('./index');
    durableNamespaces: 'SignalHub';
  }
  interface Env {
    SIGNAL_HUB: DurableObjectNamespace<import('./hub-object').SignalHub>;
  }
}
