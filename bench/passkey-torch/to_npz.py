import json
import sys

import numpy as np

arrays = {}
for line in open(sys.argv[1]):
    p = json.loads(line)
    key = f"{p['variant']}_{p['length']}"
    ids = {d["id"]: i for i, d in enumerate(p["docs"])}
    arrays[f"{key}_docs"] = np.array([d["ids"] for d in p["docs"]], dtype=np.uint16)
    ql = [len(q["ids"]) for q in p["queries"]]
    qa = np.zeros((len(ql), max(ql)), np.uint16)
    for i, q in enumerate(p["queries"]):
        qa[i, : ql[i]] = q["ids"]
    arrays[f"{key}_queries"] = qa
    arrays[f"{key}_qlens"] = np.array(ql, np.int32)
    arrays[f"{key}_answers"] = np.array([ids[q["answer"]] for q in p["queries"]], np.int32)
np.savez_compressed(sys.argv[2], **arrays)
