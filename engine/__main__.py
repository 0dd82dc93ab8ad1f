from engine.cli import main

if __name__ == "__main__":  # scoring workers are spawned processes: importing this module must not run the CLI
    main()
