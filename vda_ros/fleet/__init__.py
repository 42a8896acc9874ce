"""vda-process-bags: vda-process-bag over many bags, on the workers of a Ray cluster (embedded or existing).

Each unit of work is one bag (or one image topic of a bag) and is processed exactly as vda-process-bag
processes it, by the same function with the same options; the windows inside a bag stay sequential.
Modules: bag_job (the one link to vda-process-bag), units (finding bags, naming outputs), manifest
(verifying finished outputs, so reruns skip them), worker (the Ray actor), scheduler (dispatch, retries,
progress), summary (the table and its JSON) and cli. Ray is imported only when a run starts, so
`import vda_ros` stays as fast for those who never use it.
"""
