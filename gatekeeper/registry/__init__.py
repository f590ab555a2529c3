"""The only module that talks to MLflow: runs, versions, aliases, reviews.

MLflow is imported lazily (it costs seconds); its exceptions are mapped at this boundary to
`gatekeeper.errors.RegistryError` and its subclasses (`gatekeeper.registry.client`).
"""

CHAMPION, CHALLENGER, PREVIOUS, ROLLED_BACK = "champion", "challenger", "previous-champion", "rolled-back"
PROMOTING = "promoting"  # a version's gate.decision between its decision being recorded and champion moving
