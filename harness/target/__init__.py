"""`meshproof target check FILE`: can meshproof reach and use each part of an external mesh?

access.py  what the faults need of the Kubernetes API per mesh (CRDs, verbs). Pure.
check.py   one check per part (ingress, Prometheus, Kubernetes API, CRDs, access in each
           allowed namespace, Toxiproxy, the OTLP receiver's address), one line each.
"""
