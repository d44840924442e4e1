from localaws.cli import main

raise SystemExit(main())
