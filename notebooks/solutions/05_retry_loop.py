# The module's loop with two flaws fixed: the first call plus MAX_RETRIES retries (retry_count counted
# the failures, so the module's loop made only MAX_RETRIES calls), and no sleep after the last failure.
# Still blocking: it sleeps inside the poll loop. labkit's twin: labkit.engine.OrderProcessor (mode "sleep").
def reference_process_with_error_handling(records, process_record, send_to_dlt, sleep_with_backoff):
    for record in records:
        for retry_count in range(MAX_RETRIES + 1):  # 0 = the first call
            try:
                process_record(record)  # business processing
                break
            except errors.PermanentError as error:  # permanent -> DLT at once
                send_to_dlt(record, error)
                break
            except errors.TransientError as error:  # transient -> retry, unless none is left
                if retry_count == MAX_RETRIES:
                    send_to_dlt(record, errors.MaxRetriesExceeded(retry_count, error))
                    break
                print(f"Retry {retry_count + 1}/{MAX_RETRIES} for offset {record.offset}")
                sleep_with_backoff(retry_count + 1)
