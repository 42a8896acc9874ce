"""Every console script that is not a node, each a thin face: flags -> settings -> library -> files.

vda-video (video), vda-app (app), vda-eval (eval), vda-download-weights (weights), vda-export-onnx
(export_onnx), vda-demo (demo), vda-process-bag (process_bag), vda-process-bags (process_bags) and
vda-finetune (finetune). The nodes' executables are in vda_ros.nodes.
"""
