"""Structure of the OpenStack root module, read with python-hcl2 (its providers cannot run offline)."""

from __future__ import annotations

import re
from functools import cache

import pytest
from terraform_helpers import TERRAFORM_DIR

from tools.pins import load

TF_FILES = sorted(TERRAFORM_DIR.glob("*.tf"))

# Validated together with ssh_public_key (exactly one of the two), whose validation names both.
VALIDATED_ELSEWHERE = {"key_pair_name"}
REMOVED_IN_PROVIDER_3 = {
    "openstack_compute_floatingip_v2",
    "openstack_compute_floatingip_associate_v2",
    "openstack_compute_secgroup_v2",
}
SECRET_NAMES = re.compile(r"(password|passwd|secret|token|private_key|credential)", re.IGNORECASE)


@cache
def parsed() -> dict[str, dict]:
    return {path.name: load(path, explicit_blocks=False, with_comments=False) for path in TF_FILES}


def blocks(kind: str) -> list[dict]:
    return [block for doc in parsed().values() for block in doc.get(kind, [])]


def variables() -> dict[str, dict]:
    return {name: body for block in blocks("variable") for name, body in block.items()}


def resources(resource_type: str) -> dict[str, dict]:
    return {
        name: body
        for block in blocks("resource")
        for rtype, named in block.items()
        if rtype == resource_type
        for name, body in named.items()
    }


def test_versions_are_pinned_and_the_provider_is_the_3x_line() -> None:
    (terraform,) = blocks("terraform")
    assert re.fullmatch(r">= 1\.\d+\.\d+, < 2\.0\.0", terraform["required_version"])
    providers = terraform["required_providers"][0]
    assert providers["openstack"]["source"] == "terraform-provider-openstack/openstack"
    assert re.fullmatch(r"3\.\d+\.\d+", providers["openstack"]["version"]), "pin an exact 3.x release"
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", p["version"]) for p in providers.values())


def test_no_resource_the_3x_provider_removed() -> None:
    used = {rtype for block in blocks("resource") for rtype in block}
    assert not used & REMOVED_IN_PROVIDER_3


def test_provider_block_carries_no_credentials() -> None:
    # Credentials come from OS_* / clouds.yaml; the block may only hold non-secret tuning, here none.
    assert [block["openstack"] for block in blocks("provider")] == [{}]


def test_every_variable_is_typed_described_validated_used_and_documented() -> None:
    readme = (TERRAFORM_DIR / "README.md").read_text()
    code_outside_declarations = "\n".join(
        path.read_text() for path in TF_FILES if path.name != "variables.tf"
    )
    assert variables(), "terraform/variables.tf declares no variables"
    for name, body in variables().items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) > 20, f"variable {name} has no real description"
        assert body.get("validation") or name in VALIDATED_ELSEWHERE, f"variable {name} is not validated"
        assert re.search(rf"\bvar\.{name}\b", code_outside_declarations), f"variable {name} is never used"
        assert f"`{name}`" in readme, f"variable {name} is missing from terraform/README.md"


def test_k3s_version_default_is_a_plain_release_literal() -> None:
    # The manifest checks read this default with python-hcl2 to find the Kubernetes minor.
    assert re.fullmatch(r"v\d+\.\d+\.\d+\+k3s\d+", variables()["k3s_version"]["default"])


def test_no_hard_coded_secret() -> None:
    def walk(node: object, key: str = "") -> list[tuple[str, str]]:
        if isinstance(node, dict):
            return [hit for k, v in node.items() for hit in walk(v, k)]
        if isinstance(node, list):
            return [hit for item in node for hit in walk(item, key)]
        return [(key, node)] if isinstance(node, str) else []

    for path, doc in parsed().items():
        for key, value in walk(doc):
            literal = "${" not in value
            assert not (SECRET_NAMES.search(key) and literal and value), f"{path}: {key} is a literal"
            assert "PRIVATE KEY" not in value, f"{path}: a private key is in the code"
    # The tokens exist only as random_password results, generated at apply time.
    assert set(resources("random_password")) == {"cluster_token", "agent_token"}


def test_outputs_are_described_and_expose_no_secret() -> None:
    outputs = {name: body for block in blocks("output") for name, body in block.items()}
    assert {"server_public_ip", "kubernetes_api_url", "ssh_command", "kubeconfig_command"} <= set(outputs)
    assert {"argocd_ui_command", "argocd_admin_password_command"} <= set(outputs)
    outputs_tf = (TERRAFORM_DIR / "outputs.tf").read_text()
    assert "random_password" not in outputs_tf
    assert "module.cloud_init" not in outputs_tf
    for name, body in outputs.items():
        assert body.get("description"), f"output {name} has no description"
        assert not body.get("sensitive"), f"output {name} is sensitive: outputs must hold no secret"


def test_kubeconfig_command_is_the_tested_template_for_the_floating_ip() -> None:
    # test_kubeconfig_command.py runs the template itself; here: the output renders it for this server.
    (command,) = [b["kubeconfig_command"]["value"] for b in blocks("output") if "kubeconfig_command" in b]
    assert command.startswith('${templatefile("${path.module}/files/fetch-kubeconfig.sh.tftpl", {')
    assert 'ssh_target = "${var.ssh_user}@${local.public_ip}"' in command
    assert "public_ip = local.public_ip" in command
    assert "kubeconfig = local.kubeconfig" in command
    attempts = int(re.search(r"attempts = (\d+)", command).group(1))
    interval = int(re.search(r"interval_seconds = (\d+)", command).group(1))
    assert 60 <= attempts * interval <= 900, "wait for a booting server, but give up within minutes"


# --- security group ------------------------------------------------------------------------------


def rules() -> dict[str, dict]:
    return resources("openstack_networking_secgroup_rule_v2")


def locals_() -> dict:
    return {k: v for block in blocks("locals") for k, v in block.items()}


def test_security_group_starts_empty() -> None:
    (group,) = resources("openstack_networking_secgroup_v2").values()
    assert group["delete_default_rules"] is True


def test_only_http_and_https_are_open_to_the_world() -> None:
    world_open = {name: body for name, body in rules().items() if body.get("remote_ip_prefix") == "0.0.0.0/0"}
    assert set(world_open) == {"web"}
    web = world_open["web"]
    assert web["for_each"] == {"http": 80, "https": 443}
    assert (web["direction"], web["protocol"]) == ("ingress", "tcp")
    assert web["port_range_min"] == web["port_range_max"] == "${each.value}"


def test_ssh_and_api_only_from_admin_cidrs() -> None:
    admin = rules()["admin"]
    assert locals_()["admin_ports"] == {"ssh": 22, "kube-api": 6443}
    assert "var.admin_cidrs" in locals_()["admin_rules"]
    assert admin["for_each"] == "${local.admin_rules}"
    assert admin["remote_ip_prefix"] == "${each.value.cidr}"
    assert admin["port_range_min"] == admin["port_range_max"] == "${each.value.port}"


def test_k3s_ports_only_between_cluster_members() -> None:
    cluster = rules()["cluster"]
    assert cluster["remote_group_id"] == "${openstack_networking_secgroup_v2.cluster.id}"
    assert "remote_ip_prefix" not in cluster
    ports = {(r["protocol"], r["port"]) for r in locals_()["cluster_rules"].values()}
    assert ports == {("tcp", 6443), ("udp", 8472), ("tcp", 10250)}


@pytest.mark.parametrize("name", ["admin", "web", "cluster"])
def test_every_ingress_rule_names_its_source(name: str) -> None:
    # An ingress rule with neither a prefix nor a group would be open to everyone.
    body = rules()[name]
    assert body["direction"] == "ingress"
    assert "remote_ip_prefix" in body or "remote_group_id" in body


def test_every_rule_is_checked_here() -> None:
    assert set(rules()) == {"admin", "web", "cluster", "egress"}
    assert rules()["egress"]["direction"] == "egress"


def test_instances_boot_from_cloud_init_and_ports_in_the_group() -> None:
    instances = resources("openstack_compute_instance_v2")
    assert instances["server"]["user_data"] == "${module.cloud_init.server_user_data}"
    assert instances["agent"]["user_data"] == "${module.cloud_init.agent_user_data}"
    assert all("admin_pass" not in body for body in instances.values())
    for port in resources("openstack_networking_port_v2").values():
        assert port["security_group_ids"] == ["${openstack_networking_secgroup_v2.cluster.id}"]


def test_instances_wait_for_the_rules_their_first_boot_needs() -> None:
    # The group starts empty (delete_default_rules): a node created before its egress rule cannot download
    # K3s, and an agent created before the K3s rules cannot reach the server's 6443.
    needed = {
        "${openstack_networking_router_interface_v2.cluster}",
        "${openstack_networking_secgroup_rule_v2.egress}",
        "${openstack_networking_secgroup_rule_v2.cluster}",
    }
    for name, body in resources("openstack_compute_instance_v2").items():
        assert needed <= set(body.get("depends_on", [])), f"instance {name} does not wait for {needed}"


def test_the_subnet_leaves_dns_to_the_cloud_unless_resolvers_are_given() -> None:
    (subnet,) = resources("openstack_networking_subnet_v2").values()
    assert subnet["dns_nameservers"] == ("${length(var.dns_nameservers) > 0 ? var.dns_nameservers : null}")
    assert variables()["dns_nameservers"]["default"] == []


def test_both_instances_boot_from_a_volume_exactly_when_a_size_is_given() -> None:
    for name, body in resources("openstack_compute_instance_v2").items():
        assert body["image_name"] == "${local.instance_image_name}", name
        (dynamic,) = body["dynamic"]
        assert dynamic["block_device"]["for_each"] == "${local.boot_from_volume}", name
    assert variables()["boot_volume_size"]["default"] is None
