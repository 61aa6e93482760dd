# talos-enclave: default client configuration paths of the lab's CLIs (the tools' own defaults too).
export TALOSCONFIG="$HOME/.talos/config"
export KUBECONFIG="$HOME/.kube/config"
