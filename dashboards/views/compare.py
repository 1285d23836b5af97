import streamlit as st


def main() -> None:
    st.title("Compare")


if __name__ == "__main__":
    main()
