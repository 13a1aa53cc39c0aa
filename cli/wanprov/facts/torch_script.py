# ruff: noqa: UP031, PTH - runs under the target interpreter (any Python >= 3.8), stdlib only
"""Runs inside the *target* interpreter (the ComfyUI venv), not wanprov's: standard library only, and
Python 3.8 syntax. Prints one JSON object on stdout; every part copes with the module being absent."""

import json
import os
import sys
import threading
import warnings


def _dist_version(name):
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


def _requires(name):
    try:
        from importlib import metadata

        return [str(r) for r in (metadata.requires(name) or [])]
    except Exception:
        return []


def _bus_id(props):
    """nvidia-smi's form (00000000:01:00.0) from torch's PCI ids (torch >= 2.6 has them)."""
    try:
        return "%08X:%02X:%02X.0" % (props.pci_domain_id, props.pci_bus_id, props.pci_device_id)
    except Exception:
        return None


def _judge_device(torch, device):
    """Name, capability, identity and a tiny kernel on one device index (fills `device` in place)."""
    index = device["index"]
    try:
        major, minor = torch.cuda.get_device_capability(index)
        device["capability"] = "%d.%d" % (major, minor)
        device["name"] = torch.cuda.get_device_name(index)
        props = torch.cuda.get_device_properties(index)
        uuid = getattr(props, "uuid", None)
        device["uuid"] = "GPU-%s" % uuid if uuid is not None else None
        device["pci_bus_id"] = _bus_id(props)
    except Exception as exc:
        device["error"] = "%s: %s" % (type(exc).__name__, str(exc).strip())
    # "no kernel image is available" only shows up when code actually runs on that device.
    try:
        x = torch.ones(16, device="cuda:%d" % index)
        y = (x * 2).sum().item()
        torch.cuda.synchronize(index)
        device["kernel"] = {"ok": y == 32.0, "error": None if y == 32.0 else "wrong result %r" % y}
    except Exception as exc:
        device["kernel"] = {"ok": False, "error": "%s: %s" % (type(exc).__name__, str(exc).strip())}


def main():
    out = {"python": sys.executable, "python_version": "%d.%d.%d" % sys.version_info[:3]}
    # Device N must be nvidia-smi's / NVML's GPU N: CUDA enumerates fastest-first unless told PCI order,
    # and an inherited CUDA_VISIBLE_DEVICES would hide GPUs from the judge.
    out["cuda_visible_devices"] = os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    # Versions from package metadata: importing triton/xformers would cost seconds and may crash.
    out["modules"] = {
        "triton": _dist_version("triton"),
        "xformers": _dist_version("xformers"),
        "sageattention": _dist_version("sageattention"),
        "av": _dist_version("av"),
    }
    out["xformers_requires"] = [r for r in _requires("xformers") if r.startswith("torch")]
    try:
        import torch
    except ImportError as exc:
        out["torch_import_error"] = "%s: %s" % (type(exc).__name__, exc)
        print(json.dumps(out))
        return
    except Exception as exc:  # a broken install (missing libcudart, ABI errors) is a fact too
        out["torch_import_error"] = "%s: %s" % (type(exc).__name__, exc)
        print(json.dumps(out))
        return
    out["torch"] = str(torch.__version__)
    out["torch_cuda"] = getattr(torch.version, "cuda", None)
    try:
        out["arch_list"] = list(torch.cuda.get_arch_list())
    except Exception as exc:
        out["arch_list"] = []
        out["arch_list_error"] = str(exc)
    # torch explains a False is_available() only through a warning ("driver too old", "no driver").
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["cuda_available"] = bool(torch.cuda.is_available())
        except Exception as exc:
            out["cuda_available"] = False
            out["cuda_error"] = str(exc)
    if caught and not out.get("cuda_error"):
        out["cuda_warnings"] = [str(w.message).strip() for w in caught]
        if not out["cuda_available"]:
            out["cuda_error"] = out["cuda_warnings"][0]
    if out["cuda_available"]:
        try:
            out["device_count"] = torch.cuda.device_count()
        except Exception as exc:
            out["device_count"] = 0
            out["device_error"] = str(exc)
        # One thread per device: each kernel pays its own CUDA context creation, which overlaps across
        # devices (an 8-GPU host must not cost 8 serial context inits).
        devices = [{"index": i} for i in range(out["device_count"])]
        threads = [threading.Thread(target=_judge_device, args=(torch, d)) for d in devices]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out["devices"] = devices
        if devices:  # the flat fields describe device 0 (readers of facts written before per-device facts)
            first = devices[0]
            out["device_capability"] = first.get("capability")
            out["device_name"] = first.get("name")
            out["kernel"] = first["kernel"]
        try:
            out["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
        except Exception:
            out["bf16_supported"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
