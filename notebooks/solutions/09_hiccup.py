share.injector.set(transient=False, fail_first=2, targets={"ORD-HICCUP"})
sent_hiccup = producer.produce(settings, [Order("ORD-HICCUP", 10)], events=events)
reference_hiccup = share.wait_settled([s.key for s in sent_hiccup], since=dlq_start)
