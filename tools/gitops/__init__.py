"""Offline stand-ins for what Argo CD would do with this repository: render and validate the GitOps tree.

`render` walks the app-of-apps the way Argo CD does; `validate` checks what it renders (Kubernetes
schemas, the CRD schemas in schemas/, cross-references, and kubeconform when it is installed).
"""
