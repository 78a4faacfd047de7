"""The French messages of :func:`labkit.lang.tr`: English text (the key, exactly as in the code) -> French.

Natural technical French as the module writes it: Kafka's and the module's own terms stay as it keeps
them (*consumer group*, *rebalancing*, *offset*, *retry*, *lag*, *partition*, *topic*, DLT,
``ValidationException``). A Kafka record is a « message », as the module and the French notebooks say;
``record`` stays only in code and Kafka's names (``ConsumerRecord``, ``max_poll_records``). Every
``tr("...")`` of labkit and of the notebooks' code cells has its entry here, every entry is used, and
each keeps its English key's ``{placeholders}`` (tests/unit/test_lang.py).
"""

FR: dict[str, str] = {
    # lang.py's doctest
    "processed": "traité",
    "waiting": "en attente",  # an order's outcome (order_journeys, shown by labkit.notebook.display)

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
    "order": "commande",
    "outcome": "issue",
    "by": "par",
    "wait (s)": "attente (s)",
    "times processed": "traitements",
    "rebalance": "rebalancing",
    "trigger": "déclencheur",
    "at (s)": "à (s)",
    "moved": "déplacées",
    "paused": "sans propriétaire",
    "max gap (s)": "trou max (s)",
    "settled after (s)": "stable après (s)",
    "count": "nombre",

    # --- long waits (labkit.notebook.display.WaitProgress) ----------------------------------------
    "⏳ waiting for {what}  {bar}  {elapsed:.0f} s (at most {timeout:g} s)":
        "⏳ en attente : {what}  {bar}  {elapsed:.0f} s (au plus {timeout:g} s)",
    "✓ {what}: after {elapsed:.1f} s": "✓ {what} : après {elapsed:.1f} s",
    "✗ {what}: not reached after {elapsed:.1f} s": "✗ {what} : non atteint après {elapsed:.1f} s",
    "{what} not reached within {s:g} s": "{what} : non atteint en {s:g} s",
    "; last seen: {seen}": " ; vu en dernier : {seen}",

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
    "Dead Letter Topic: records over time": "Dead Letter Topic : messages au fil du temps",
    "nothing in the DLT yet": "rien dans le DLT pour l'instant",
    "total ({n})": "total ({n})",
    "records in the DLT (cumulative)": "messages dans le DLT (cumulés)",
    "Dead Letter Topic: records by reason": "Dead Letter Topic : messages par raison",
    "records": "messages",
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
    "lag (records not yet committed)": "lag (messages pas encore commités)",
    "{title} (max total {max}, last {last})": "{title} (total max {max}, dernier {last})",
    "Throughput: records handled per second": "Débit : messages traités par seconde",
    "no records processed yet": "aucun message traité pour l'instant",
    "sent to DLT": "envoyés au DLT",
    "records / s ({bin:g} s bins)": "messages / s (intervalles de {bin:g} s)",
    "{title} ({processed} processed, {dlt} to DLT)": "{title} ({processed} traités, {dlt} vers le DLT)",

    # --- the checkpoint (labkit.scenarios.checkpoint) ---------------------------------------------
    "{name}: {found} partition(s), {expected} expected": "{name} : {found} partition(s), {expected} attendue(s)",
    "missing": "absent",
    "not in {topic}: {ids}": "absents de {topic} : {ids}",
    "{n} orders in {topic}, all committed by {group}": "{n} commandes dans {topic}, toutes commitées par {group}",
    "{n} orders in {topic}, not all committed by {group}":
        "{n} commandes dans {topic}, pas toutes commitées par {group}",
    "no DLT record for ORD-INVALID in {topic}": "aucun message DLT pour ORD-INVALID dans {topic}",
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
        "{n} commandes invalides envoyées, {dlt} message(s) dans le DLT",
    "{n} record(s) written to the new topic '{topic}'": "{n} message(s) écrit(s) dans le nouveau topic '{topic}'",
    "the producer failed: {error}": "le producer a échoué : {error}",
    "The DLT is written by the consumer: no consumer, no DLT record - the lag table shows the orders waiting and "
    "an empty group. When the consumer runs and LAG stays 0 while the DLT stays empty, the orders never reached "
    "the topic it reads: check the producer's topic name (and its errors).":
        "C'est le consumer qui écrit dans le DLT : pas de consumer, pas de message DLT - la table de lag montre les "
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
        "est exclu au milieu du batch ('lost' dans la timeline), son commit échoue et ses messages reviennent. "
        "Accélérez le handler, baissez max_poll_records ou augmentez max_poll_interval_ms. (Un session_timeout_ms "
        "plus court que les pauses d'un consumer sain donne le même tableau.)",

    # --- the share groups' DLQ reasons (labkit.kafka.share_groups.DLQ_REASONS, shown by notebooks/09) ---
    "rejected by the consumer": "rejeté par le consumer",
    "delivery limit reached": "limite de livraisons atteinte",

    # --- the exercises' checkers (labkit.notebook.exercises) --------------------------------------
    "a record that always fails (transient)": "un message qui échoue toujours (transitoire)",
    "a record that fails twice, then succeeds": "un message qui échoue deux fois, puis réussit",
    "an invalid record (permanent)": "un message invalide (permanent)",
    "❌ {title}: your function raised {error}: {exc}": "❌ {title} : votre fonction a levé {error} : {exc}",
    "{n} calls": "{n} appels",
    "{n} call": "{n} appel",
    " (want {want}: the first + {retries} retries)": " (attendu {want} : le premier + {retries} retries)",
    "sleeps for retries {sleeps}": "sleeps avant les retries {sleeps}",
    " (want {want}: one sleep before each retry, none after the last failure)":
        " (attendu {want} : un sleep avant chaque retry, aucun après le dernier échec)",
    "nothing": "rien",
    "DLT {dlt}": "DLT {dlt}",
    " (want {want})": " (attendu {want})",
    "{mark} {title}: {calls}, {sleeps}, {dlt}": "{mark} {title} : {calls}, {sleeps}, {dlt}",
    "❌ {key}: your fix raised {error}: {exc}": "❌ {key} : votre fix a levé {error} : {exc}",
    "fixed": "corrigé",
    "want a valid order (orderId, amount > 0, STATUS), got {order!r}":
        "attendu une commande valide (orderId, amount > 0, STATUS), reçu {order!r}",
    "left in the DLT": "laissé dans le DLT",
    "want None (no code can fix it), got {order!r}": "attendu None (aucun code ne peut le corriger), reçu {order!r}",
    "{mark} {key}: {verdict}": "{mark} {key} : {verdict}",
    "set my_order_id to the orderId you posted, then run this cell again":
        "donnez à my_order_id l'orderId que vous avez envoyé, puis relancez cette cellule",
    "no record with key {id} in {topic}: did the POST answer 202?":
        "aucun message de clé {id} dans {topic} : le POST a-t-il répondu 202 ?",
    "{id} is in {topic}, partition {partition}, offset {offset}":
        "{id} est dans {topic}, partition {partition}, offset {offset}",
    "the consumer's verdict": "le verdict du consumer",
    "the consumer did not process it within {s:g} s: is the API running?":
        "le consumer ne l'a pas traitée en {s:g} s : l'API tourne-t-elle ?",
    "the consumer sent it to the DLT ({error}): send a valid order":
        "le consumer l'a envoyée dans le DLT ({error}) : envoyez une commande valide",
    "the consumer processed it": "le consumer l'a traitée",
    "the consumer processed it (a duplicate: that orderId was applied before)":
        "le consumer l'a traitée (un doublon : cet orderId avait déjà été appliqué)",
    "the commit": "le commit",
    "the group has not committed past it within {s:g} s": "le groupe n'a pas commité au-delà en {s:g} s",
    "{group} committed past it: a restart will not deliver it again":
        "{group} a commité au-delà : un redémarrage ne la livrera pas de nouveau",
    "a DLT record for {id}": "un message DLT pour {id}",
    "no DLT record for {id} after {s:g} s: the consumer accepted it, or the API refused it (4xx)":
        "aucun message DLT pour {id} après {s:g} s : le consumer l'a acceptée, ou l'API l'a refusée (4xx)",
    "{id} is in {topic}: {type}: {message} (retryCount {retries})":
        "{id} est dans {topic} : {type} : {message} (retryCount {retries})",
    "its envelope points at {where}, the same bytes": "son enveloppe pointe vers {where}, les mêmes octets",
    "its envelope points at {where}, which does not hold it":
        "son enveloppe pointe vers {where}, qui ne le contient pas",
    "{n} instance(s) running ({names}): want {members}; add or stop consumers, then run this cell again":
        "{n} instance(s) en cours ({names}) : il en faut {members} ; ajoutez ou arrêtez des consumers, puis "
        "relancez cette cellule",
    "none": "aucune",
    "the rebalance": "le rebalancing",
    "after {s:g} s the group has {found} member(s), or its partitions are not shared yet: want {members} members "
    "owning {wanted} once each":
        "après {s:g} s le groupe a {found} membre(s), ou ses partitions ne sont pas encore partagées : il faut "
        "{members} membres possédant chacune de {wanted} une seule fois",
    "{members} members share the {n} partitions of {topic}, each owned once: {split}":
        "{members} membres se partagent les {n} partitions de {topic}, chacune possédée une fois : {split}",
    "set my_counts to a dict {errorType: records}, then run this cell again":
        "donnez à my_counts un dict {errorType: messages}, puis relancez cette cellule",
    "right: this run's DLT records by errorType are {truth}":
        "juste : les messages DLT de cette exécution par errorType sont {truth}",
    "{type}: yours {yours}, the DLT's {dlt}": "{type} : vous {yours}, le DLT {dlt}",
    "not yet: {detail} (only this run's records count: since=run_started)":
        "pas encore : {detail} (seuls les messages de cette exécution comptent : since=run_started)",

    # --- the notebooks' own cells (notebooks/*.ipynb, the same code in notebooks/fr/) -------------
    "student {student}: your topics are {topics}, your group {group}":
        "étudiant {student} : vos topics sont {topics}, votre groupe {group}",
    "no broker answers: run the Setup cell again": "aucun broker ne répond : relancez la cellule de Setup",
    "✅ broker ready, topics:": "✅ broker prêt, topics :",
    "✅ a real DLT record with its full context; permanent errors skip the retries":
        "✅ un vrai message DLT avec tout son contexte ; les erreurs permanentes sautent les retries",
    "the group has not committed past every record of this lab":
        "le groupe n'a pas commité au-delà de chaque message de ce lab",
    "✅ {n} records of ORD-1 … ORD-5 in {topic}, processed and committed by {group}":
        "✅ {n} messages de ORD-1 … ORD-5 dans {topic}, traités et commités par {group}",
    "Skipped on the embedded broker: kafka-console-consumer gets no records from it. "
    "labkit dlt show, below, reads the same record.":
        "Sauté sur le broker embarqué : kafka-console-consumer n'en reçoit aucun message. "
        "labkit dlt show, plus bas, lit le même message.",
    "Skipped on the embedded broker (see above).": "Sauté sur le broker embarqué (voir plus haut).",
    "a refused body was written to Kafka": "un body refusé a été écrit dans Kafka",
    "✅ {topic}: ORD-INVALID ({error}) and the poison record, both traced to their source record":
        "✅ {topic} : ORD-INVALID ({error}) et le message poison, tous deux reliés à leur message d'origine",
    "{id} processed after {n} retries: the errors were off before its next retry":
        "{id} traitée après {n} retries : les erreurs étaient désactivées avant son retry suivant",
    "{id} sent to the DLT after {n} retries ({error}): every retry found the errors still on. "
    "Run 5.1, 5.2 and 5.4 again within ~25 s to see it succeed":
        "{id} envoyée dans le DLT après {n} retries ({error}) : chaque retry a trouvé les erreurs encore actives. "
        "Relancez 5.1, 5.2 et 5.4 en moins de ~25 s pour la voir réussir",
    "process_record called {n} times; slept {slept} = {total} s without polling; DLT: {dead}":
        "process_record appelé {n} fois ; sleeps {slept} = {total} s sans poll ; DLT : {dead}",
    "{id} was not retried": "{id} n'a pas eu de retry",
    "{id}'s offset is not committed": "l'offset de {id} n'est pas commité",
    "the sleep run was not kicked out of its group": "le run sleep n'a pas été exclu de son groupe",
    "processed after {n} retries": "traitée après {n} retries",
    "in the DLT after {n} retries": "dans le DLT après {n} retries",
    "✅ {id} {ending}; sleep pitfall: {processed} orders, none lost; {n} records in {topic}":
        "✅ {id} {ending} ; piège du sleep : {processed} commandes, aucune perdue ; {n} messages dans {topic}",
    "consumer-1 owns the 6 partitions {s:.1f} s after the SIGKILL (session_timeout_ms = {timeout})":
        "consumer-1 possède les 6 partitions {s:.1f} s après le SIGKILL (session_timeout_ms = {timeout})",
    "Skipped: the embedded broker does not speak KIP-848 (on Apache Kafka: labkit broker up --engine kafka)":
        "Sauté : le broker embarqué ne parle pas KIP-848 (sur Apache Kafka : labkit broker up --engine kafka)",
    "Skipped: the embedded broker does not implement static membership; run this notebook on Apache Kafka.":
        "Sauté : le broker embarqué n'implémente pas le static membership ; lancez ce notebook sur Apache Kafka.",
    "consumer-2 restarted in {s} s: partitions {before} -> {after}; consumer-1 rebalanced: {others}":
        "consumer-2 redémarré en {s} s : partitions {before} -> {after} ; rebalancing de consumer-1 : {others}",
    "never": "jamais",
    "✅ {produced} orders: {processed} processed, {dlt} in the DLT; 6 partitions owned; committed offsets = log end":
        "✅ {produced} commandes : {processed} traitées, {dlt} dans le DLT ; 6 partitions possédées ; "
        "offsets commités = fin du log",
    "the API's consumer owns {n} partitions; the DLT holds {dlt} records":
        "le consumer de l'API possède {n} partitions ; le DLT contient {dlt} messages",
    "Skipped on the embedded broker: kafka-consumer-groups would show wrong LOG-END-OFFSET and LAG values there "
    "(its ListOffsets answer is wrong after batched produces). labkit's lag table, below, is right.":
        "Sauté sur le broker embarqué : kafka-consumer-groups y montrerait des valeurs LOG-END-OFFSET et LAG "
        "fausses (sa réponse ListOffsets est fausse après des produces en batch). La table de lag de labkit, "
        "plus bas, est juste.",
    "✅ lag table = log end - committed on {n} partitions (all 0); {bad} invalid orders in the DLT; "
    "DLT count {before} -> {after}":
        "✅ table de lag = fin du log - commité sur {n} partitions (toutes à 0) ; {bad} commandes invalides dans "
        "le DLT ; compte du DLT {before} -> {after}",
    "using the reference `{name}`": "`{name}` de la solution de référence utilisé",
    "using your `{name}`": "votre `{name}` utilisé",
    "calls to the service: {calls} | sent to the DLT: {dlt}": "appels au service : {calls} | envoyés au DLT : {dlt}",
    "✅ capped backoff, breaker storm without DLT, 2 records fixed and replayed":
        "✅ backoff plafonné, tempête sans DLT grâce au breaker, 2 messages corrigés et rejoués",
    "{n} accepted; dead-lettered by the broker: {dead}": "{n} acceptées ; envoyées en DLQ par le broker : {dead}",
    "1. idle consumers:": "1. consumers inactifs :",
    "2. ORD-FLAKY delivered {n} times, then: {reason}": "2. ORD-FLAKY livrée {n} fois, puis : {reason}",
    "3. ORD-BAD delivered {n} time, then: {reason}": "3. ORD-BAD livrée {n} fois, puis : {reason}",
    "{accepted} accepted, {dead} dead-lettered |": "{accepted} acceptées, {dead} envoyées en DLQ |",
    "{victim} was killed; accepted: {accepted} of {sent} - lost: {lost}":
        "{victim} a été tué ; acceptées : {accepted} sur {sent} - perdues : {lost}",
    "| in the DLQ:": "| dans la DLQ :",
    "expected two RELEASEs then an ACCEPT: check fail_first and targets":
        "attendu deux RELEASE puis un ACCEPT : vérifiez fail_first et targets",
    "✅ the broker's retries cured the hiccup at the 3rd delivery":
        "✅ les retries du broker ont guéri la panne passagère à la 3e livraison",
    "✅ 22 accepted, ORD-BAD rejected, ORD-FLAKY dead-lettered after {limit} deliveries, the crash lost nothing, "
    "lag 0 on {n} partitions":
        "✅ 22 acceptées, ORD-BAD rejetée, ORD-FLAKY envoyée en DLQ après {limit} livraisons, le crash n'a rien "
        "perdu, lag 0 sur {n} partitions",
    "nothing missing: every lab left its evidence": "rien ne manque : chaque lab a laissé sa preuve",
    "run by 10:": "lancé par 10 :",
    "still missing:": "manque encore :",
    "✅ the course topics are gone": "✅ les topics de la formation ont disparu",
    "not started by labkit, left running: {status}": "pas démarré par labkit, laissé en marche : {status}",

    # --- what the notebooks' waits wait for (wait_until's ``what``: the progress line, the timeout) ---
    "the DLT record": "le message DLT",
    "the API's consumer owns partitions": "des partitions pour le consumer de l'API",
    "the ten records processed": "les dix messages traités",
    "offsets committed past the ten records": "les offsets commités au-delà des dix messages",
    "ORD-INVALID in the DLT": "ORD-INVALID dans le DLT",
    "the order behind the poison processed": "la commande derrière le poison traitée",
    "ORD-DOWN in the DLT": "ORD-DOWN dans le DLT",
    "the group committed past the poison": "le commit du groupe au-delà du poison",
    "two retries of {id}": "deux retries de {id}",
    "{id} processed or in the DLT": "{id} traitée ou dans le DLT",
    "the thirty orders settled": "les trente commandes réglées",
    "both orders in the DLT": "les deux commandes dans le DLT",
    "an empty orders-consumer-group": "un orders-consumer-group vide",
    "the group's offsets committed": "les offsets du groupe commités",
    "the 8 orders processed or in the DLT": "les 8 commandes traitées ou dans le DLT",
    "the burst processed": "la rafale traitée",
    "high watermarks": "les high watermarks",
    "the breaker opened and a probe failed": "le breaker ouvert et une sonde en échec",
    "every storm order processed": "chaque commande de la tempête traitée",
    "the 4 bad records in the DLT": "les 4 mauvais messages dans le DLT",
    "the fixed orders processed": "les commandes corrigées traitées",
    "both orders accepted or in the DLQ": "les deux commandes acceptées ou dans la DLQ",

    # --- the broker line of every setup cell (labkit.broker.BrokerInfo) ---------------------------
    "; ": " ; ",
    "pid {pid}": "pid {pid}",
    "not started by labkit": "pas démarré par labkit",
    "{engine} broker started at {address} ({who})": "broker {engine} démarré sur {address} ({who})",
    "{engine} broker running at {address} ({who})": "broker {engine} en marche sur {address} ({who})",
    "reused": "réutilisé",
    "a Kafka broker already answers there, used as it is": "un broker Kafka répond déjà là, utilisé tel quel",
    "labkit will not stop it": "labkit ne l'arrêtera pas",
}
