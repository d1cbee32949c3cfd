import sys

# dbt takes its locks from a spawn multiprocessing context, so a resource-tracker process watches
# their semaphores; when this process is stopped by a signal it prints "There appear to be N
# leaked semaphore objects to clean up at shutdown" and then cleans them up itself. Nothing leaks,
# so the tracker (which inherits these warning options) is told not to alarm anyone.
sys.warnoptions.append("ignore:resource_tracker:UserWarning")

from service.cli import main  # noqa: E402 - after the warning option, before anything starts dbt

main()
