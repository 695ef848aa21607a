from algotrading.cli import main

raise SystemExit(main())
