#!/usr/bin/python
# Copyright: wanprov maintainers
# SPDX-License-Identifier: Apache-2.0
"""wanprov.gpu.swarm: a thin adapter over wanprov.distribution (publish, fetch through the swarm, stop)."""

# ruff: noqa: E402 - Ansible modules carry DOCUMENTATION/EXAMPLES/RETURN before their imports

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm
short_description: Share verified model files across a fleet peer to peer (wanprov swarm)
description:
  - C(state=published) (on the controller) makes private torrents of the profiles' files that wanprov
    verified in the controller cache, starts a tracker that admits exactly those and a seeder, both bound to
    I(bind_address), and returns the publication the hosts need. They run until C(state=absent) or
    I(seed_deadline).
  - C(state=fetched) (on a host) downloads what the host is missing into a staging folder inside the models
    folder, seeds until every host has finished (or nobody asked for I(linger) seconds, or I(deadline)),
    stops, then verifies each file's sha256 and renames it into place (the placement of
    C(fetch-models --from)).
    What the swarm did not deliver is left missing (C(ok=false), C(missing)), for the controller or the hub.
  - C(state=absent) stops the tracker and the seeder.
  - Check mode changes nothing and reports C(changed) for C(published)/C(absent).
version_added: 0.2.0
author:
  - wanprov maintainers (!UNKNOWN)
requirements:
  - wanprov (its libtorrent dependency is the default engine); on the controller opentracker
  - engine=aria2 only - aria2c on every node, mktorrent on the controller
options:
  state:
    description: What to do.
    type: str
    choices: [published, fetched, absent]
    required: true
  profiles:
    description: The profiles to publish (published) or the one profile to fetch (fetched, first item).
    type: list
    elements: str
    default: []
  cache_dir:
    description: published - the controller cache; a profile's verified files are in I(cache_dir)/PROFILE.
    type: path
  state_dir:
    description: published, absent - where the torrents, logs and process ids live.
    type: path
  models_dir:
    description: fetched - ComfyUI's models folder.
    type: path
  custom_nodes_dir:
    description: fetched - ComfyUI's custom_nodes folder, for files a node pack reads from its own folder.
    type: path
  manifests:
    description: Your own catalog or profile YAML files (same format as the shipped catalog).
    type: list
    elements: path
    default: []
  publication:
    description: fetched - what C(state=published) returned as C(publication).
    type: dict
  bind_address:
    description: This node's address on the cluster network; every listener binds to it.
    type: str
  tracker_port:
    description: published - the tracker's TCP and UDP port.
    type: int
    default: 6969
  peer_port:
    description: The peer TCP port on every node.
    type: int
    default: 6881
  piece_size_log2:
    description: published - log2 of the piece size (24 is 16 MiB).
    type: int
    default: 24
  seed_deadline:
    description: published - seconds after which the seeder stops by itself.
    type: int
    default: 3600
  deadline:
    description: fetched - seconds the host gives the swarm before the caller falls back.
    type: float
    default: 1800
  swarm_size:
    description: fetched - how many hosts fetch; a host stops seeding once the tracker counts that many done.
    type: int
    default: 1
  linger:
    description: fetched - stop seeding after this many seconds without a request.
    type: float
    default: 30
  engine:
    description: published - the swarm engine (the hosts use the one the publication names).
      C(aria2) runs aria2c as a process on every node; C(libtorrent) runs a libtorrent session inside
      wanprov (the libtorrent Python package on every node).
    type: str
    choices: [libtorrent, aria2]
    default: libtorrent
notes:
  - Check mode is supported; diff mode is not.
seealso:
  - module: wanprov.gpu.models
"""

EXAMPLES = r"""
- name: Seed the fleet's profiles from the controller cache
  wanprov.gpu.swarm:
    state: published
    profiles: [wan22-i2v-a14b-q4km-lightning]
    cache_dir: ~/.cache/wanprov/fleet-models
    state_dir: ~/.cache/wanprov/swarm
    bind_address: 10.0.0.1
  delegate_to: localhost
  run_once: true
  register: swarm

- name: Fetch through the swarm
  wanprov.gpu.swarm:
    state: fetched
    profiles: [wan22-i2v-a14b-q4km-lightning]
    models_dir: /opt/comfyui/ComfyUI/models
    publication: "{{ swarm.publication }}"
    bind_address: "{{ ansible_host }}"
    swarm_size: "{{ ansible_play_hosts | length }}"
"""

RETURN = r"""
publication:
  description: published - the items (path, sha256, size, info-hash, torrent) and the tracker URL.
  returned: state=published
  type: dict
distribution:
  description: fetched - C(requested), C(served_by), C(fell_back), per source C(chain) (outcome, placed, left,
    swarm figures) and C(missing).
  returned: state=fetched
  type: dict
ok:
  description: fetched - every file of the profile is in place and verified.
  returned: state=fetched
  type: bool
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wanprov.gpu.plugins.module_utils.core import WanprovError, fail_from, require_wanprov


def _settings(params, tracker_address=""):
    from wanprov.distribution.engine import SwarmSettings

    return SwarmSettings(
        bind_address=params["bind_address"],
        tracker_address=tracker_address,
        tracker_port=params["tracker_port"],
        peer_port=params["peer_port"],
        piece_size_log2=params["piece_size_log2"],
        seed_deadline_s=params["seed_deadline"],
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": ["published", "fetched", "absent"]},
            "profiles": {"type": "list", "elements": "str", "default": []},
            "cache_dir": {"type": "path"},
            "state_dir": {"type": "path"},
            "models_dir": {"type": "path"},
            "custom_nodes_dir": {"type": "path"},
            "manifests": {"type": "list", "elements": "path", "default": []},
            "publication": {"type": "dict"},
            "bind_address": {"type": "str"},
            "tracker_port": {"type": "int", "default": 6969},
            "peer_port": {"type": "int", "default": 6881},
            "piece_size_log2": {"type": "int", "default": 24},
            "seed_deadline": {"type": "int", "default": 3600},
            "deadline": {"type": "float", "default": 1800},
            "swarm_size": {"type": "int", "default": 1},
            "linger": {"type": "float", "default": 30},
            "engine": {"type": "str", "choices": ["libtorrent", "aria2"], "default": "libtorrent"},
        },
        required_if=[
            ("state", "published", ("profiles", "cache_dir", "state_dir", "bind_address")),
            ("state", "fetched", ("profiles", "models_dir", "publication", "bind_address")),
            ("state", "absent", ("state_dir",)),
        ],
        supports_check_mode=True,
    )
    require_wanprov(module)
    from wanprov.distribution.engine import Publication
    from wanprov.distribution.swarm import fetch_chain, make_engine, profile_entries, publish_profiles

    params = module.params
    if module.check_mode:
        module.exit_json(changed=params["state"] != "fetched")
    try:
        if params["state"] == "absent":
            make_engine(params["engine"]).stop(Path(params["state_dir"]))  # stops what any engine recorded
            module.exit_json(changed=True)
        if params["state"] == "published":
            publication = publish_profiles(
                params["engine"], params["profiles"], params["manifests"], Path(params["cache_dir"]),
                Path(params["state_dir"]), _settings(params, tracker_address=params["bind_address"]),
            )  # fmt: skip
            module.exit_json(changed=True, publication=publication.to_dict())
        publication = Publication.from_dict(params["publication"], "publication")
        profile = params["profiles"][0]
        document = fetch_chain(
            make_engine(publication.engine),
            publication,
            profile,
            profile_entries(profile, params["manifests"]),
            Path(params["models_dir"]),
            _settings(params),
            controller_dir=None,  # the role copies from the controller next, for what is still missing
            hub=None,
            custom_nodes_dir=Path(params["custom_nodes_dir"]) if params["custom_nodes_dir"] else None,
            deadline_s=params["deadline"],
            swarm_size=params["swarm_size"],
            linger_s=params["linger"],
        )
    except WanprovError as error:
        fail_from(module, error)
    module.exit_json(changed=bool(document["served_by"]), ok=document["ok"], distribution=document)


if __name__ == "__main__":
    main()
