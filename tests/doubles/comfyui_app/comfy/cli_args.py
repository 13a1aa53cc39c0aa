"""TEST DOUBLE of ComfyUI's comfy/cli_args.py: the launch flags of the pinned ComfyUI 0.3.64
(Comfy-Org/ComfyUI a125cd84, argparse groups kept), so `main.py --help` lists what the real one lists
for the flags wanprov writes into a service. Flags wanprov never sets are left out."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--listen", type=str, default="127.0.0.1", metavar="IP", nargs="?", const="0.0.0.0,::")
parser.add_argument("--port", type=int, default=8188, help="Set the listen port.")
parser.add_argument("--enable-cors-header", type=str, default=None, metavar="ORIGIN", nargs="?", const="*")
parser.add_argument("--max-upload-size", type=float, default=100)
parser.add_argument("--base-directory", type=str, default=None)
parser.add_argument(
    "--extra-model-paths-config", type=str, default=None, metavar="PATH", nargs="+", action="append"
)
parser.add_argument("--output-directory", type=str, default=None)
parser.add_argument("--temp-directory", type=str, default=None)
parser.add_argument("--input-directory", type=str, default=None)
parser.add_argument("--user-directory", type=str, default=None)
parser.add_argument("--auto-launch", action="store_true")
parser.add_argument("--disable-auto-launch", action="store_true")
parser.add_argument("--cuda-device", type=int, default=None, metavar="DEVICE_ID")
cm_group = parser.add_mutually_exclusive_group()
cm_group.add_argument("--cuda-malloc", action="store_true")
cm_group.add_argument("--disable-cuda-malloc", action="store_true")
parser.add_argument(
    "--preview-method", type=str, default="none", choices=["none", "auto", "latent2rgb", "taesd"]
)

attn_group = parser.add_mutually_exclusive_group()
attn_group.add_argument("--use-split-cross-attention", action="store_true")
attn_group.add_argument("--use-quad-cross-attention", action="store_true")
attn_group.add_argument("--use-pytorch-cross-attention", action="store_true")
attn_group.add_argument("--use-sage-attention", action="store_true")
attn_group.add_argument("--use-flash-attention", action="store_true")
parser.add_argument("--disable-xformers", action="store_true")

vram_group = parser.add_mutually_exclusive_group()
vram_group.add_argument("--gpu-only", action="store_true")
vram_group.add_argument("--highvram", action="store_true")
vram_group.add_argument("--normalvram", action="store_true")
vram_group.add_argument("--lowvram", action="store_true")
vram_group.add_argument("--novram", action="store_true")
vram_group.add_argument("--cpu", action="store_true")
parser.add_argument("--reserve-vram", type=float, default=None)
parser.add_argument("--async-offload", action="store_true")
parser.add_argument("--disable-smart-memory", action="store_true")
parser.add_argument("--fast", nargs="*", type=str)
parser.add_argument("--dont-print-server", action="store_true")
parser.add_argument("--disable-all-custom-nodes", action="store_true")
parser.add_argument("--verbose", default="INFO", const="DEBUG", nargs="?")
parser.add_argument("--log-stdout", action="store_true")
parser.add_argument("--database-url", type=str, default="sqlite:///user/comfyui.db")
