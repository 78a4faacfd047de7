"""The French messages of :func:`labkit.lang.tr`: English text (the key, exactly as in the code) -> French.

Natural technical French as the module writes it: Kafka's and the module's own terms stay as it keeps
them (*consumer group*, *rebalancing*, *offset*, *retry*, *lag*, *partition*, *topic*, DLT,
``ValidationException``). Every ``tr("...")`` of labkit has its entry here, every entry is used, and
each keeps its English key's ``{placeholders}`` (tests/unit/test_lang.py).
"""

FR: dict[str, str] = {
    # lang.py's doctest
    "processed": "traité",

    # --- table column labels (labkit.notebook.display) --------------------------------------------
    "checkpoint": "checkpoint",
    "result": "résultat",
    "evidence": "preuve",
    "to do": "à faire",
    "kind": "type",
    "time": "heure",
    "attempt": "tentative",
    "reason": "raison",
    "error": "erreur",
    "error message": "message d'erreur",
    "planned delay (s)": "délai prévu (s)",
    "actual delay (s)": "délai réel (s)",
    "duplicate": "doublon",
    "during a rebalance": "pendant un rebalancing",

    # --- long waits (labkit.notebook.display.WaitProgress) ----------------------------------------
    "⏳ waiting for {what}  {bar}  {elapsed:.0f} s (at most {timeout:g} s)":
        "⏳ en attente : {what}  {bar}  {elapsed:.0f} s (au plus {timeout:g} s)",
    "✓ {what}: after {elapsed:.1f} s": "✓ {what} : après {elapsed:.1f} s",
    "✗ {what}: not reached after {elapsed:.1f} s": "✗ {what} : non atteint après {elapsed:.1f} s",

    # --- the failure panel (labkit.notebook.widgets) ----------------------------------------------
    "Order service: failure injection": "Service de commandes : injection de pannes",
    "transient errors": "erreurs transitoires",
    "transient errors ON": "erreurs transitoires ON",
    "transient errors off": "erreurs transitoires off",
    "failure rate": "taux d'échec",
    "fail first": "échecs initiaux",
    "refresh": "rafraîchir",
    "ON at {rate:.0%}": "ON à {rate:.0%}",
    "OFF": "OFF",
    "transient errors {state}, fail first {fail_first} · service: {calls} calls, {failed} failed":
        "erreurs transitoires {state}, échecs initiaux {fail_first} · service : {calls} appels, {failed} en échec",
    " · consumer: {processed} processed, {retries} retries, {dlt} to DLT, {in_flight} in flight":
        " · consumer : {processed} traités, {retries} retries, {dlt} vers le DLT, {in_flight} en cours",
    "service calls": "appels au service",
    "failed": "en échec",
    "retries": "retries",
    "to DLT": "vers le DLT",
    "in flight": "en cours",

    # --- figures (labkit.observe.plots) -----------------------------------------------------------
    "Backoff strategies: planned delay per retry": "Stratégies de backoff : délai prévu par retry",
    "retry number": "numéro du retry",
    "delay before the retry (s, {yscale} scale)": "délai avant le retry (s, échelle {yscale})",
    "{name} (median)": "{name} (médiane)",
    "{name}: jitter range ({seeds} seeds)": "{name} : plage du jitter ({seeds} tirages)",
    "Retry delays: planned vs actual": "Délais des retries : prévu vs réel",
    "no Retried events yet": "pas encore d'événement Retried",
    "retry {attempt}": "retry {attempt}",
    "actual = planned": "réel = prévu",
    "{title} ({n} retries, median lateness {ms:.0f} ms)": "{title} ({n} retries, retard médian {ms:.0f} ms)",
    "Consumer group: who owns which partition": "Consumer group : qui possède quelle partition",
    "no consumer events yet": "pas encore d'événement de consumer",
    "#{number} {trigger}\nmax gap {gap:.1f}s": "#{number} {trigger}\ntrou max {gap:.1f}s",
    "#{number} {trigger}\n(no owner since)": "#{number} {trigger}\n(sans propriétaire depuis)",
    "no owner": "sans propriétaire",
    "time since the first event (s)": "temps depuis le premier événement (s)",
    "consumer": "consumer",
    "{title} - {rebalances} rebalances, {moves} partition moves, longest no-owner gap {gap:.1f} s":
        "{title} - {rebalances} rebalancings, {moves} déplacements de partition, "
        "plus long trou sans propriétaire {gap:.1f} s",
    "join": "arrivée",
    "clean leave (SIGTERM)": "départ propre (SIGTERM)",
    "crash (SIGKILL)": "crash (SIGKILL)",
    "lost (kicked out)": "perdu (exclu du groupe)",
    "stopped": "arrêté",
    "partitions without owner": "partitions sans propriétaire",
    "Dead Letter Topic: records over time": "Dead Letter Topic : records au fil du temps",
    "nothing in the DLT yet": "rien dans le DLT pour l'instant",
    "total ({n})": "total ({n})",
    "records in the DLT (cumulative)": "records dans le DLT (cumulés)",
    "Dead Letter Topic: records by reason": "Dead Letter Topic : records par raison",
    "records": "records",
    "reason (errorType)": "raison (errorType)",
    "{title} ({n} total)": "{title} ({n} au total)",
    "Share group: deliveries per order": "Share group : livraisons par commande",
    "no delivery yet": "pas encore de livraison",
    "{title} ({n} accepted at their first delivery)": "{title} ({n} acceptées dès leur première livraison)",
    "no retry, no rejection": "aucun retry, aucun rejet",
    " delivery limit {limit}: then the broker dead-letters":
        " limite de livraisons {limit} : ensuite le broker envoie en DLQ",
    "deliveries (the broker counts them)": "livraisons (comptées par le broker)",
    "{title} ({n} more accepted at their first delivery)":
        "{title} ({n} autres acceptées dès leur première livraison)",
    "Consumer lag over time": "Lag du consumer au fil du temps",
    "no lag samples yet (nothing committed?)": "pas encore de mesure du lag (rien de commité ?)",
    "total": "total",
    "time since the first sample (s)": "temps depuis le premier échantillon (s)",
    "lag (records not yet committed)": "lag (records pas encore commités)",
    "{title} (max total {max}, last {last})": "{title} (total max {max}, dernier {last})",
    "Throughput: records handled per second": "Débit : records traités par seconde",
    "no records processed yet": "aucun record traité pour l'instant",
    "sent to DLT": "envoyés au DLT",
    "records / s ({bin:g} s bins)": "records / s (intervalles de {bin:g} s)",
    "{title} ({processed} processed, {dlt} to DLT)": "{title} ({processed} traités, {dlt} vers le DLT)",

    # --- the checkpoint (labkit.scenarios.checkpoint) ---------------------------------------------
    "{name}: {found} partition(s), {expected} expected": "{name} : {found} partition(s), {expected} attendue(s)",
    "missing": "absent",
    "not in {topic}: {ids}": "absents de {topic} : {ids}",
    "{n} orders in {topic}, all committed by {group}": "{n} commandes dans {topic}, toutes commitées par {group}",
    "{n} orders in {topic}, not all committed by {group}":
        "{n} commandes dans {topic}, pas toutes commitées par {group}",
    "no DLT record for ORD-INVALID in {topic}": "aucun record DLT pour ORD-INVALID dans {topic}",
    "{n} Retry line(s) in {file}; ORD-RETRY committed": "{n} ligne(s) Retry dans {file} ; ORD-RETRY commité",
    "{n} Retry line(s) in {file}; ORD-RETRY not committed": "{n} ligne(s) Retry dans {file} ; ORD-RETRY non commité",
    "no 'Retry … (key ORD-RETRY)' line in the service logs":
        "aucune ligne 'Retry … (key ORD-RETRY)' dans les logs des services",
    "{n} rebalance events: {assigned} consumer(s) assigned, {revoked} revoked":
        "{n} événements de rebalancing : {assigned} consumer(s) avec des partitions assignées, {revoked} révoqué(s)",
    "GET /api/v1/stats {status}; GET /api/v1/dlt/count = {served}, DLT topic holds {held}":
        "GET /api/v1/stats {status} ; GET /api/v1/dlt/count = {served}, le topic DLT contient {held}",
    "could not check: {error}": "vérification impossible : {error}",
    "run {notebook}": "lancer {notebook}",
    "✅ (run by 10)": "✅ (lancé par 10)",
    "Étape 2: created the topics": "Étape 2 : topics créés",
    "Lab 1: sent ORD-1 … ORD-5": "Lab 1 : ORD-1 … ORD-5 envoyées",
    "Lab 2: sent ORD-INVALID (amount -50)": "Lab 2 : ORD-INVALID envoyée (montant -50)",
    "Lab 3: transient errors on, sent ORD-RETRY, saw it retried, errors off":
        "Lab 3 : erreurs transitoires activées, ORD-RETRY envoyée, ses retries observés, erreurs désactivées",
    "Lab 4: one consumer, then a second one joined (a rebalance)":
        "Lab 4 : un consumer, puis un second l'a rejoint (un rebalancing)",

    # --- troubleshooting (labkit.scenarios.troubleshoot) ------------------------------------------
    "{case}\n  symptom:   {symptom}\n  diagnosis: {diagnosis}":
        "{case}\n  symptôme :   {symptom}\n  diagnostic : {diagnosis}",
    "Consumer bloqué (stuck consumer)": "Consumer bloqué",
    "no order processed for {s:g} s; the consumer process is still there and the group is '{state}'":
        "aucune commande traitée pendant {s:g} s ; le processus du consumer est toujours là et le groupe est "
        "'{state}'",
    "LAG grows while CURRENT-OFFSET stays put, and no rebalance happens: the member is alive for the broker "
    "(it was frozen for less than session_timeout_ms) but does not progress. Look at the consumer itself: a hung "
    "call, a long pause, a stuck thread.":
        "LAG augmente pendant que CURRENT-OFFSET ne bouge pas, et aucun rebalancing n'a lieu : le membre est vivant "
        "pour le broker (il a été gelé moins longtemps que session_timeout_ms) mais n'avance pas. Regardez le "
        "consumer lui-même : un appel bloqué, une longue pause, un thread coincé.",
    "DLT vide alors qu'il devrait y avoir des erreurs (empty DLT)": "DLT vide alors qu'il devrait y avoir des erreurs",
    "{n} invalid orders sent, {dlt} record(s) in the DLT":
        "{n} commandes invalides envoyées, {dlt} record(s) dans le DLT",
    "{n} record(s) written to the new topic '{topic}'": "{n} record(s) écrit(s) dans le nouveau topic '{topic}'",
    "the producer failed: {error}": "le producer a échoué : {error}",
    "The DLT is written by the consumer: no consumer, no DLT record - the lag table shows the orders waiting and "
    "an empty group. When the consumer runs and LAG stays 0 while the DLT stays empty, the orders never reached "
    "the topic it reads: check the producer's topic name (and its errors).":
        "C'est le consumer qui écrit dans le DLT : pas de consumer, pas de record DLT - la table de lag montre les "
        "commandes en attente et un groupe vide. Quand le consumer tourne et que LAG reste à 0 alors que le DLT "
        "reste vide, les commandes ne sont jamais arrivées dans le topic qu'il lit : vérifiez le nom du topic du "
        "producer (et ses erreurs).",
    "Rebalancing trop fréquent (rebalancing too often)": "Rebalancing trop fréquent",
    "{rebalances} rebalance(s) in {s:g} s with a single consumer that never left: thrown out {lost} time(s), "
    "{failed} failed commit(s)":
        "{rebalances} rebalancing(s) en {s:g} s avec un seul consumer qui n'est jamais parti : exclu {lost} fois, "
        "{failed} commit(s) en échec",
    "A batch of {n} orders takes {batch_s:g} s, longer than max_poll_interval_ms ({max_poll} ms): the member is "
    "thrown out mid-batch ('lost' in the timeline), its commit fails and its records come again. Make the handler "
    "faster, lower max_poll_records, or raise max_poll_interval_ms. (A session_timeout_ms shorter than a healthy "
    "consumer's pauses gives the same picture.)":
        "Un batch de {n} commandes prend {batch_s:g} s, plus que max_poll_interval_ms ({max_poll} ms) : le membre "
        "est exclu au milieu du batch ('lost' dans la timeline), son commit échoue et ses records reviennent. "
        "Accélérez le handler, baissez max_poll_records ou augmentez max_poll_interval_ms. (Un session_timeout_ms "
        "plus court que les pauses d'un consumer sain donne le même tableau.)",
}
