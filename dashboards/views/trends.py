import streamlit as st


def main() -> None:
    st.title("Trends")


if __name__ == "__main__":
    main()
