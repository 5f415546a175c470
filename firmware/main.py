# main.py: start the dongle; on an unexpected error, log it and start again.
# MIT license; Copyright (c) 2026 hanmq
import app

try:
    app.main()
except Exception as e:  # Ctrl-C (KeyboardInterrupt) still reaches the REPL
    import sys
    import time

    import hw

    sys.print_exception(e)
    time.sleep(10)
    hw.reset()
