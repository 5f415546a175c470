# main.py: start the dongle; on an unexpected error, log it and start again.
# MIT license; Copyright (c) 2026 hanmq
import app

try:
    app.main()
except KeyboardInterrupt:  # Ctrl-C: to the REPL, with the watchdog kept fed
    if app.watchdog is not None:
        import hw

        hw.keep_fed(app.watchdog)
    raise
except Exception as e:
    import sys
    import time

    import hw

    sys.print_exception(e)
    time.sleep(10)
    hw.reset()
